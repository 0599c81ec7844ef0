// scaling/caching/xfetch.hpp: probabilistic early expiration (XFetch).
//
// What it is: `scaling::xfetch_due(now, expiry, delta, beta, u)` decides whether a reader
// should recompute a value before it expires: true when `now - delta * beta * ln(u) >= expiry`,
// with delta the time a recomputation takes, beta >= 0 (1 is optimal for most loads, > 1
// refreshes earlier) and u uniform in (0, 1]; `xfetch_due(expiry - now, delta, beta, u)` takes
// the time left instead. Each reader flips its own coin, so as expiry nears one of them
// (probably just one) refreshes early and the value never expires under a crowd: no stampede,
// no locks, no coordination. `scaling::xfetch` carries a seeded generator.
// When to pick it: hot keys with expensive recomputation behind caches you can't lock across
// processes (memcached, Redis); single-flight needs shared state, XFetch doesn't. In process,
// `loading_cache` applies it for you (`.early_expiration = {.beta = 1}`): a hit flips the coin
// with delta = the last measured load of that key, and a due refresh still runs once per key
// through its single-flight (loading_cache.hpp).
// Reference: Vattani, Chierichetti, Lowenstein, "Optimal Probabilistic Cache Stampede
// Prevention", VLDB 2015.
//
//   scaling::xfetch early{/*seed=*/42};
//   if (early.due(clock.now(), entry.expiry, entry.recompute_time)) refresh(key);
//
// Thread safety: xfetch_due is pure; an xfetch object is for one thread (it owns a generator).
// Complexity: O(1).
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <random>
#include <type_traits>

#include <scaling/core/error.hpp>

namespace scaling {

// Whether to recompute now, from the time left before expiry (expiry - now, <= 0 once
// expired): true when delta * beta * -ln(u) >= remaining.
// Throws scaling::invalid_argument for beta < 0 or u outside (0, 1].
template <class Rep1, class Period1, class Rep2, class Period2>
[[nodiscard]] bool xfetch_due(std::chrono::duration<Rep1, Period1> remaining,
                              std::chrono::duration<Rep2, Period2> delta, double beta, double u) {
  if (!(beta >= 0)) detail::throw_invalid_argument("scaling::xfetch", "beta", "must be >= 0", beta);
  if (!(u > 0 && u <= 1)) {
    detail::throw_invalid_argument("scaling::xfetch", "u", "must be in (0, 1]", u);
  }
  using common = std::common_type_t<decltype(remaining), decltype(delta)>;
  // -ln(u) >= 0: the gap is how far ahead of expiry this reader acts.
  const double gap = static_cast<double>(common(delta).count()) * beta * -std::log(u);
  const double ahead = static_cast<double>(common(remaining).count());
  return gap >= ahead;
}

// Whether to recompute now. Throws scaling::invalid_argument for beta < 0 or u outside (0, 1].
template <class TimePoint, class Duration>
[[nodiscard]] bool xfetch_due(TimePoint now, TimePoint expiry, Duration delta, double beta,
                              double u) {
  return xfetch_due(expiry - now, std::chrono::duration_cast<typename TimePoint::duration>(delta),
                    beta, u);
}

class xfetch {
 public:
  // beta: how eagerly to refresh (1 by default). Throws scaling::invalid_argument if < 0.
  explicit xfetch(std::uint64_t seed, double beta = 1.0) : random_(seed), beta_(beta) {
    if (!(beta >= 0)) {
      detail::throw_invalid_argument("scaling::xfetch", "beta", "must be >= 0", beta);
    }
  }

  template <class TimePoint, class Duration>
  [[nodiscard]] bool due(TimePoint now, TimePoint expiry, Duration delta) {
    // u in (0, 1]: 1 - [0, 1).
    const double u = 1.0 - std::uniform_real_distribution<double>(0.0, 1.0)(random_);
    return xfetch_due(now, expiry, delta, beta_, u);
  }

 private:
  std::mt19937_64 random_;
  double beta_;
};

}  // namespace scaling
