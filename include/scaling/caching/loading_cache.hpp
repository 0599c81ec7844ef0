// scaling/caching/loading_cache.hpp: read-through caching with single-flight loads, optional
// negative caching and optional probabilistic early expiration.
//
// What it is: `scaling::loading_cache<Key, Value, Eviction, Concurrency>` wraps a
// `scaling::cache` and a `single_flight`: `get_or_load(key, loader)` returns the cached value
// or calls `loader(key)` once for all concurrent misses of that key, caches the result and
// hands it to every waiter. The loader returns `std::optional<Value>` (nullopt: the key does
// not exist at the source). A loader exception reaches every waiter and is not cached, unless
// negative caching is on: then "not found" results and failures are remembered for
// `negative_ttl` (their own, shorter TTL) and answered without calling the source.
// With early expiration on (`early_expiration.beta > 0`), a hit on an entry that expires flips
// the XFetch coin (xfetch.hpp) with delta = how long the last load of that key took on the
// cache's clock: a reader that comes up due reloads the key before it expires, through the same
// single-flight (one load per key however many are due), and returns the fresh value; the
// others return the cached one. If that early load throws, the still-valid cached value is
// returned (and counted in `early_refresh_failures()`); with negative caching on the failure is
// also remembered, which pauses early refreshes of the key for `negative_ttl`.
// When to pick it: the database sits behind the cache and all reads go through it
// (read-through); single-flight removes the stampede when a hot key expires; early expiration
// removes the expiry itself for keys read continuously (no reader ever waits on a miss);
// negative caching stops "cache penetration" (floods of lookups for keys that don't exist).
//
//   scaling::loading_cache<std::string, profile, scaling::w_tinylfu, scaling::sharded<8>> c{
//       10'000, {.expire_after_write = 5min},
//       {.negative_ttl = 30s, .early_expiration = {.beta = 1, .seed = 7}}};
//   auto p = c.get_or_load("u1", [&](const std::string& id) { return db.find_profile(id); });
//
// Early expiration suits expire_after_write (or per-entry TTLs set through values()): under
// expire_after_access a read re-arms the deadline, so a key read often never nears it.
// Thread safety: as the Concurrency tag (use a locked one when several threads load).
// Complexity: a hit is one cache read; with early expiration, a hit within ~37 x beta x the
// longest load so far of its expiry adds a read of the key's load time and a coin flip
// (lock-free); a miss or a due refresh adds one loader call per key and flight.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <utility>

#include <scaling/caching/cache.hpp>
#include <scaling/caching/single_flight.hpp>
#include <scaling/caching/xfetch.hpp>
#include <scaling/core/error.hpp>
#include <scaling/core/hash.hpp>
#include <scaling/core/stats.hpp>

namespace scaling {

// Probabilistic early expiration (XFetch) of loading_cache hits.
struct early_expiration_options {
  // How far ahead of expiry a hit may reload, in units of the key's load time: 0 (the
  // default) never (off), 1 is XFetch's optimum, > 1 earlier. Finite and >= 0.
  double beta = 0;
  // Seeds the readers' coins, so a run (with a manual_clock) is reproducible.
  std::uint64_t seed = 0;
};

// What loading_cache adds to the cache's own options.
struct loading_options {
  // How long a "not found" or a failed load is remembered; none: never remembered.
  std::optional<std::chrono::nanoseconds> negative_ttl{};
  // Entries the negative cache holds (it is a separate LRU cache).
  std::size_t negative_capacity = 1024;
  // Off unless early_expiration.beta > 0.
  early_expiration_options early_expiration{};
};

// The name loading_options had before it gained early_expiration.
using negative_caching_options = loading_options;

template <class Key, class Value, eviction_policy Eviction = lru,
          concurrency_policy Concurrency = mutex_locked>
class loading_cache {
 public:
  using cache_type = cache<Key, Value, Eviction, Concurrency>;
  using options = typename cache_type::options;

  // capacity and opts as for scaling::cache; loading as above.
  // Throws scaling::invalid_argument for a bad capacity, a TTL <= 0, a negative_ttl <= 0 or
  // negative_capacity 0 when negative caching is on, or an early_expiration.beta that is
  // negative or not finite.
  explicit loading_cache(std::size_t capacity, options opts = {}, loading_options loading = {})
      : clock_(opts.clock),
        negative_ttl_(loading.negative_ttl),
        beta_(loading.early_expiration.beta),
        seed_(loading.early_expiration.seed) {
    if (negative_ttl_ && negative_ttl_->count() <= 0) {
      detail::throw_invalid_argument("scaling::loading_cache", "negative_ttl", "must be > 0 ns",
                                     negative_ttl_->count());
    }
    if (!(beta_ >= 0) || !std::isfinite(beta_)) {
      detail::throw_invalid_argument("scaling::loading_cache", "early_expiration.beta",
                                     "must be finite and >= 0", beta_);
    }
    if (negative_ttl_) {
      if (loading.negative_capacity == 0) {
        detail::throw_invalid_argument("scaling::loading_cache", "negative_capacity",
                                       "must be >= 1", loading.negative_capacity);
      }
      negative_.emplace(loading.negative_capacity,
                        typename negative_cache::options{.clock = clock_});
    }
    const bool weighted = static_cast<bool>(opts.weigher);
    values_.emplace(capacity, std::move(opts));
    if (early()) {
      // One load time per key, for as many keys as the value cache can hold. With a weigher
      // that capacity is a weight: a unit weigher keeps the bound without sizing the table
      // for it up front.
      typename load_time_cache::options times;
      if (weighted) {
        times.weigher = [](const Key&, const std::chrono::nanoseconds&) -> std::size_t {
          return 1;
        };
      }
      load_times_.emplace(capacity, std::move(times));
    }
  }

  // The cached value, or loader(key) run once for all concurrent callers of this key, then
  // cached. Returns nullopt when the loader found nothing. With early expiration, a hit that
  // comes up due reloads first (see the banner) and returns the fresh value, or nullopt (and
  // drops the entry) when the source no longer has the key.
  // Throws whatever the loader threw on a miss (to every waiter of that load); an early
  // reload's exception is absorbed and the cached value returned.
  template <class Loader>
  requires std::convertible_to<std::invoke_result_t<Loader&, const Key&>, std::optional<Value>>
      std::optional<Value> get_or_load(const Key& key, Loader&& loader) {
    if (!early()) {
      if (auto hit = values_->get(key)) return hit;
    } else if (auto hit = values_->get_with_expiry(key)) {
      if (!hit->expires_at || !early_due(key, *hit->expires_at)) return std::move(hit->value);
      return reload_early(key, loader, *hit->expires_at);
    }
    if (negative_) {
      if (auto remembered = negative_->get(key)) {
        negative_hits_.add();
        if (*remembered) std::rethrow_exception(*remembered);
        return std::nullopt;
      }
    }
    return flights_.run(key, [&]() -> std::optional<Value> {
      // Another flight may have filled the cache between our miss and this call.
      if (auto filled = values_->get(key)) return filled;
      return load(key, loader);
    });
  }

  // Stores a value (e.g. after a write to the source) and forgets any negative entry.
  template <class V>
  void put(const Key& key, V&& value) {
    if (negative_) negative_->erase(key);
    values_->put(key, std::forward<V>(value));
  }

  // Drops the key (invalidate-on-write), including a negative entry.
  void invalidate(const Key& key) {
    if (negative_) negative_->erase(key);
    values_->erase(key);
  }

  // The underlying cache, for reads that must not load and for statistics.
  [[nodiscard]] cache_type& values() noexcept { return *values_; }
  // Loader calls so far, waiters that shared one, and answers from the negative cache.
  [[nodiscard]] std::uint64_t loads() const noexcept { return flights_.calls(); }
  [[nodiscard]] std::uint64_t shared_loads() const noexcept { return flights_.shared(); }
  [[nodiscard]] std::uint64_t negative_hits() const noexcept { return negative_hits_.load(); }
  // Early expiration: reloads of a still-valid entry that completed, and those whose loader
  // threw (the cached value was returned instead).
  [[nodiscard]] std::uint64_t early_refreshes() const noexcept { return early_refreshes_.load(); }
  [[nodiscard]] std::uint64_t early_refresh_failures() const noexcept {
    return early_failures_.load();
  }

 private:
  using negative_cache = cache<Key, std::exception_ptr, lru, Concurrency>;
  using load_time_cache = cache<Key, std::chrono::nanoseconds, lru, Concurrency>;

  // -ln(2^-53), rounded up: the furthest ahead (in units of delta x beta) any coin can act.
  static constexpr double max_coin_reach = 36.75;

  [[nodiscard]] bool early() const noexcept { return beta_ > 0; }

  // Calls the loader, caches the result (or remembers the miss or failure when negative
  // caching is on) and returns it; with early expiration, times it on the cache's clock.
  template <class Loader>
  std::optional<Value> load(const Key& key, Loader& loader) {
    std::optional<Value> loaded;
    try {
      loaded = timed_load(key, loader);
    } catch (...) {
      if (negative_) negative_->put(key, std::current_exception(), *negative_ttl_);
      throw;
    }
    store(key, loaded);
    return loaded;
  }

  void store(const Key& key, const std::optional<Value>& loaded) {
    if (loaded) {
      values_->put(key, *loaded);
    } else if (negative_) {
      negative_->put(key, std::exception_ptr{}, *negative_ttl_);
    }
  }

  template <class Loader>
  std::optional<Value> timed_load(const Key& key, Loader& loader) {
    if (!early()) return loader(key);
    const std::chrono::nanoseconds start = clock_.now();
    std::optional<Value> loaded = loader(key);
    if (loaded) {
      const std::chrono::nanoseconds took =
          std::max(clock_.now() - start, std::chrono::nanoseconds{0});
      // The bound first, so no reader that sees this load time skips the coin it allows.
      std::int64_t longest = longest_load_.load(std::memory_order_relaxed);
      while (took.count() > longest && !longest_load_.compare_exchange_weak(
                                           longest, took.count(), std::memory_order_relaxed)) {
      }
      load_times_->put(key, took);
    }
    return loaded;
  }

  // On a hit expiring at expires_at: whether this reader reloads now.
  bool early_due(const Key& key, std::chrono::nanoseconds expires_at) {
    const std::chrono::nanoseconds remaining = expires_at - clock_.now();
    // Further from expiry than any coin could act with the longest load seen so far: the
    // common case, decided without another lookup or a draw.
    const double reach =
        static_cast<double>(longest_load_.load(std::memory_order_relaxed)) * beta_ * max_coin_reach;
    if (static_cast<double>(remaining.count()) > reach) return false;
    // An early reload of this key failed recently: keep serving the value until it expires.
    if (negative_ && negative_->contains(key)) return false;
    const std::optional<std::chrono::nanoseconds> delta = load_times_->get(key);
    if (!delta) return false;  // never loaded here (a put), or its load time was evicted
    return xfetch_due(remaining, *delta, beta_, draw());
  }

  // u uniform in (0, 1] from a shared counter: lock-free, and reproducible from the seed.
  double draw() noexcept {
    const std::uint64_t n = draws_.fetch_add(1, std::memory_order_relaxed);
    const std::uint64_t bits = mix64(seed_ + (n + 1) * 0x9e3779b97f4a7c15ULL);
    return static_cast<double>((bits >> 11) + 1) * 0x1.0p-53;
  }

  // A due reader's reload of an entry that expires at seen_expiry, run as this key's flight.
  template <class Loader>
  std::optional<Value> reload_early(const Key& key, Loader& loader,
                                    std::chrono::nanoseconds seen_expiry) {
    return flights_.run(key, [&]() -> std::optional<Value> {
      std::optional<expiring_value<Value>> current = values_->get_with_expiry(key);
      // Expired, evicted or invalidated since: an ordinary miss.
      if (!current) return load(key, loader);
      // Rewritten since this reader looked (a flight that just finished, or a put).
      if (current->expires_at != seen_expiry) return std::move(current->value);
      std::optional<Value> loaded;
      try {
        loaded = timed_load(key, loader);
      } catch (...) {
        early_failures_.add();
        if (negative_) negative_->put(key, std::current_exception(), *negative_ttl_);
        return std::move(current->value);  // still valid: keep serving it
      }
      early_refreshes_.add();
      if (!loaded) values_->erase(key);  // the source no longer has the key
      store(key, loaded);
      return loaded;
    });
  }

  cache_clock clock_;
  std::optional<std::chrono::nanoseconds> negative_ttl_;
  double beta_;
  std::uint64_t seed_;
  std::optional<cache_type> values_;
  std::optional<negative_cache> negative_;
  std::optional<load_time_cache> load_times_;
  single_flight<Key, std::optional<Value>> flights_;
  relaxed_counter negative_hits_;
  relaxed_counter early_refreshes_;
  relaxed_counter early_failures_;
  std::atomic<std::int64_t> longest_load_{0};
  std::atomic<std::uint64_t> draws_{0};
};

}  // namespace scaling
