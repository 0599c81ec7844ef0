// scaling/replication/policies.hpp: how a replica_selector picks one replica among the eligible.
//
// What it is: the selection policies, as tag types checked by the `selection_policy` concept:
//   round_robin            each eligible member in turn; ignores load and latency
//   weighted_round_robin   nginx's smooth weighted round robin: weight w gets w/W of the reads,
//                          interleaved (5,1,1 gives a a b a c a a, not a a a a a b c)
//   random_choice          weight-proportional random pick
//   least_outstanding      fewest reads in flight (ties rotate)
//   power_of_two_choices   two random members, the one with fewer reads in flight (Envoy's
//                          least_request; Mitzenmacher's power of two choices)
//   peak_ewma              two random members, the lower cost x (outstanding + 1), where cost is
//                          Finagle's peak-sensitive EWMA of latency (tau default 10 s)
//   zone_aware<Inner>      Inner over the caller's zone; spills to every zone when the local zone
//                          has too few eligible members or all of them are overloaded
//
// When to pick which: peak_ewma when replicas differ in speed or slow down (GC, a noisy
// neighbour, a replica replaying a backlog): it moves reads off a slow member within a few
// requests. power_of_two_choices when latency isn't measured but load is. round_robin only for
// identical members under light load: a single slow member receives its full share and drags
// the tail. Wrap any of them in zone_aware to keep reads in the local zone.
//
//   scaling::replica_selector<db_endpoint, scaling::peak_ewma> reads{replicas};
//   scaling::replica_selector<db_endpoint, scaling::zone_aware<scaling::power_of_two_choices>>
//       local{replicas, {.policy = {.local_zone = "eu-west-1a"}}};
//
// A policy is a tag (possibly with settings) plus a nested `state` type the selector owns: the
// policy's mutable memory (a cursor, smooth weights, a random generator). The selector calls
// `state.pick(policy, candidates)` under its lock with a non-empty span of eligible members.
//
// Thread safety: a state is used by one thread at a time (the selector's lock).
// Complexity: round_robin, random_choice (uniform weights), power_of_two_choices and peak_ewma
// O(1) per pick given the candidates; weighted_round_robin, weighted random_choice,
// least_outstanding and zone_aware O(candidates).
#pragma once

#include <chrono>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <scaling/core/config.hpp>
#include <scaling/core/hash.hpp>

namespace scaling {

// What a policy sees of one eligible member.
struct selection_candidate {
  std::size_t index = 0;          // the member's position in the selector's set (stable)
  std::string_view zone;          // the member's zone ("" when none)
  std::uint32_t weight = 1;       // >= 1
  std::uint32_t outstanding = 0;  // reads in flight
  double cost_ns = 0.0;           // peak-EWMA latency estimate at its last update; 0 before any
  double idle_ns = 0.0;           // time since that update

  // The latency estimate decayed to now, as Finagle reads it: cost x exp(-idle / tau). Computed
  // on demand because a two-choice policy needs it for two members only.
  [[nodiscard]] double cost_now(std::chrono::nanoseconds tau) const noexcept {
    if (cost_ns == 0.0 || idle_ns <= 0.0) return cost_ns;
    return cost_ns * std::exp(-idle_ns / static_cast<double>(tau.count()));
  }
};

// A selection policy P:
//   - copyable (the selector keeps a copy of its settings);
//   - names a nested `state`, constructible from a 64-bit seed (so runs are reproducible);
//   - `state.pick(policy, candidates)` returns a position in `candidates` (< candidates.size()),
//     given a non-empty span.
template <class P>
concept selection_policy = std::copy_constructible<P> && requires {
  typename P::state;
} && std::constructible_from<typename P::state, std::uint64_t> &&
    requires(const P& policy, typename P::state& state,
             std::span<const selection_candidate> candidates) {
  { state.pick(policy, candidates) } -> std::same_as<std::size_t>;
};

namespace detail {

// A small, fast, seedable generator (splitmix64): the policies need speed and reproducibility,
// not statistical perfection, and std::mt19937_64's 2.5 KB state would bloat every selector.
class policy_rng {
 public:
  explicit policy_rng(std::uint64_t seed) noexcept : state_(seed) {}
  std::uint64_t next() noexcept {
    state_ += 0x9e3779b97f4a7c15ULL;
    return mix64(state_);
  }
  // Uniform in [0, n), n >= 1 (Lemire's multiply-shift: no division). Below 2^32 it multiplies
  // 32 random bits, as it always has (same seed, same picks; the bias, below n / 2^32, is
  // irrelevant for choosing among replicas); from 2^32 on (weight totals) 64 random bits in
  // 128-bit arithmetic, where 32 bits would overflow and never reach the top of the range.
  std::uint64_t below(std::uint64_t n) noexcept {
    SCALING_ASSERT(n >= 1, "range must not be empty");
    if (n <= 0xffffffffULL) return ((next() >> 32) * n) >> 32;
    __extension__ using u128 = unsigned __int128;
    return static_cast<std::uint64_t>((static_cast<u128>(next()) * n) >> 64);
  }

 private:
  std::uint64_t state_;
};

// Two distinct positions in [0, n), n >= 2.
inline std::pair<std::size_t, std::size_t> two_distinct(policy_rng& rng, std::size_t n) noexcept {
  const auto a = static_cast<std::size_t>(rng.below(n));
  auto b = static_cast<std::size_t>(rng.below(n - 1));
  if (b >= a) ++b;
  return {a, b};
}

}  // namespace detail

// Each eligible member in turn, in set order, continuing after the last member picked.
struct round_robin {
  class state {
   public:
    explicit state(std::uint64_t /*seed*/) noexcept {}
    std::size_t pick(const round_robin&, std::span<const selection_candidate> c) noexcept {
      // Continue from the member after the last one picked, so a member that drops out and
      // comes back doesn't shift everyone's turn.
      std::size_t chosen = 0;
      for (std::size_t i = 0; i < c.size(); ++i) {
        if (c[i].index >= next_) {
          chosen = i;
          break;
        }
      }
      next_ = c[chosen].index + 1;
      return chosen;
    }

   private:
    std::size_t next_ = 0;
  };
};

// nginx's smooth weighted round robin: each pick adds every member's weight to its running
// score, takes the highest, and subtracts the total from the winner.
struct weighted_round_robin {
  class state {
   public:
    explicit state(std::uint64_t /*seed*/) noexcept {}
    std::size_t pick(const weighted_round_robin&, std::span<const selection_candidate> c) {
      std::int64_t total = 0;
      std::size_t best = 0;
      std::int64_t best_score = 0;
      for (std::size_t i = 0; i < c.size(); ++i) {
        if (c[i].index >= current_.size()) current_.resize(c[i].index + 1, 0);
        std::int64_t& score = current_[c[i].index];
        score += c[i].weight;
        total += c[i].weight;
        if (i == 0 || score > best_score) {
          best = i;
          best_score = score;
        }
      }
      current_[c[best].index] -= total;
      return best;
    }

   private:
    std::vector<std::int64_t> current_;
  };
};

// A random member, with probability proportional to its weight. The total weight may exceed
// 2^32 (each weight is below 2^32): the draw is 64-bit.
struct random_choice {
  class state {
   public:
    explicit state(std::uint64_t seed) noexcept : rng_(seed) {}
    std::size_t pick(const random_choice&, std::span<const selection_candidate> c) noexcept {
      std::uint64_t total = 0;
      for (const auto& candidate : c)
        total += candidate.weight;
      if (total == c.size()) return static_cast<std::size_t>(rng_.below(c.size()));
      std::uint64_t ticket = rng_.below(total);
      for (std::size_t i = 0; i < c.size(); ++i) {
        if (ticket < c[i].weight) return i;
        ticket -= c[i].weight;
      }
      return c.size() - 1;
    }

   private:
    detail::policy_rng rng_;
  };
};

// The member with the fewest reads in flight; the scan starts at a rotating offset so ties
// spread instead of piling onto the first member.
struct least_outstanding {
  class state {
   public:
    explicit state(std::uint64_t /*seed*/) noexcept {}
    std::size_t pick(const least_outstanding&, std::span<const selection_candidate> c) noexcept {
      const std::size_t start = rotation_++ % c.size();
      std::size_t best = start;
      for (std::size_t k = 1; k < c.size(); ++k) {
        const std::size_t i = (start + k) % c.size();
        if (c[i].outstanding < c[best].outstanding) best = i;
      }
      return best;
    }

   private:
    std::size_t rotation_ = 0;
  };
};

// Two random members; the one with fewer reads in flight wins (the first drawn on a tie).
struct power_of_two_choices {
  class state {
   public:
    explicit state(std::uint64_t seed) noexcept : rng_(seed) {}
    std::size_t pick(const power_of_two_choices&, std::span<const selection_candidate> c) noexcept {
      if (c.size() == 1) return 0;
      const auto [a, b] = detail::two_distinct(rng_, c.size());
      return c[b].outstanding < c[a].outstanding ? b : a;
    }

   private:
    detail::policy_rng rng_;
  };
};

// Finagle's peak EWMA: two random members, the lower of cost x (outstanding + 1). The cost
// jumps up to a latency above it at once (peak-sensitive) and decays towards lower ones with
// weight exp(-elapsed / tau); the selector keeps the estimate (replica_state::latency_ns) and
// decays it as time passes without samples, so an avoided member is retried eventually.
// A member with no sample yet costs nothing, so new members are probed first.
struct peak_ewma {
  // Decay time constant of the latency estimate (> 0).
  std::chrono::nanoseconds tau = std::chrono::seconds{10};

  class state {
   public:
    explicit state(std::uint64_t seed) noexcept : rng_(seed) {}
    std::size_t pick(const peak_ewma& policy, std::span<const selection_candidate> c) noexcept {
      if (c.size() == 1) return 0;
      const auto [a, b] = detail::two_distinct(rng_, c.size());
      return load(c[b], policy.tau) < load(c[a], policy.tau) ? b : a;
    }

   private:
    static double load(const selection_candidate& c, std::chrono::nanoseconds tau) noexcept {
      return c.cost_now(tau) * (static_cast<double>(c.outstanding) + 1.0);
    }
    detail::policy_rng rng_;
  };
};

// Inner policy over the members of `local_zone`; every zone when the local zone has fewer than
// `min_local` eligible members, or when every local member has `spill_outstanding` or more
// reads in flight (0 = never spill for load).
template <selection_policy Inner>
struct zone_aware {
  std::string local_zone;
  Inner inner{};
  std::size_t min_local = 1;
  std::uint32_t spill_outstanding = 0;

  class state {
   public:
    explicit state(std::uint64_t seed) : inner_(seed) {}
    std::size_t pick(const zone_aware& policy, std::span<const selection_candidate> c) {
      local_.clear();
      positions_.clear();
      bool all_busy = true;
      for (std::size_t i = 0; i < c.size(); ++i) {
        if (c[i].zone != policy.local_zone) continue;
        local_.push_back(c[i]);
        positions_.push_back(i);
        if (policy.spill_outstanding == 0 || c[i].outstanding < policy.spill_outstanding) {
          all_busy = false;
        }
      }
      const bool spill = local_.empty() || local_.size() < policy.min_local ||
                         (policy.spill_outstanding != 0 && all_busy);
      if (spill) {
        ++spills_;
        return inner_.pick(policy.inner, c);
      }
      const std::size_t chosen = inner_.pick(policy.inner, local_);
      SCALING_ASSERT(chosen < local_.size(), "inner policy picked outside the candidates");
      return positions_[chosen];
    }
    // How many picks went outside the local zone.
    [[nodiscard]] std::uint64_t spills() const noexcept { return spills_; }

   private:
    typename Inner::state inner_;
    std::vector<selection_candidate> local_;
    std::vector<std::size_t> positions_;
    std::uint64_t spills_ = 0;
  };
};

static_assert(selection_policy<round_robin>);
static_assert(selection_policy<weighted_round_robin>);
static_assert(selection_policy<random_choice>);
static_assert(selection_policy<least_outstanding>);
static_assert(selection_policy<power_of_two_choices>);
static_assert(selection_policy<peak_ewma>);
static_assert(selection_policy<zone_aware<peak_ewma>>);

namespace detail {

// The latency-estimate time constant a policy asks for: peak_ewma's tau, looked up through
// wrappers such as zone_aware; 10 s (Finagle's default) for policies that don't use it.
template <class P>
std::chrono::nanoseconds latency_tau_of(const P& policy) {
  if constexpr (requires {
                  { policy.tau } -> std::convertible_to<std::chrono::nanoseconds>;
                }) {
    return policy.tau;
  } else if constexpr (requires { policy.inner; }) {
    return latency_tau_of(policy.inner);
  } else {
    return std::chrono::seconds{10};
  }
}

}  // namespace detail
}  // namespace scaling
