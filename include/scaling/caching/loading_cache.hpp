// scaling/caching/loading_cache.hpp: read-through caching with single-flight loads and
// optional negative caching.
//
// What it is: `scaling::loading_cache<Key, Value, Eviction, Concurrency>` wraps a
// `scaling::cache` and a `single_flight`: `get_or_load(key, loader)` returns the cached value
// or calls `loader(key)` once for all concurrent misses of that key, caches the result and
// hands it to every waiter. The loader returns `std::optional<Value>` (nullopt: the key does
// not exist at the source). A loader exception reaches every waiter and is not cached, unless
// negative caching is on: then "not found" results and failures are remembered for
// `negative_ttl` (their own, shorter TTL) and answered without calling the source.
// When to pick it: the database sits behind the cache and all reads go through it
// (read-through); single-flight removes the stampede when a hot key expires; negative caching
// stops "cache penetration" (floods of lookups for keys that don't exist).
//
//   scaling::loading_cache<std::string, profile, scaling::w_tinylfu, scaling::sharded<8>> c{
//       10'000, {.expire_after_write = 5min}, {.negative_ttl = 30s}};
//   auto p = c.get_or_load("u1", [&](const std::string& id) { return db.find_profile(id); });
//
// Thread safety: as the Concurrency tag (use a locked one when several threads load).
// Complexity: a hit is one cache read; a miss adds one loader call per key and flight.
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <exception>
#include <optional>
#include <utility>

#include <scaling/caching/cache.hpp>
#include <scaling/caching/single_flight.hpp>
#include <scaling/core/error.hpp>

namespace scaling {

struct negative_caching_options {
  // How long a "not found" or a failed load is remembered; none: never remembered.
  std::optional<std::chrono::nanoseconds> negative_ttl{};
  // Entries the negative cache holds (it is a separate LRU cache).
  std::size_t negative_capacity = 1024;
};

template <class Key, class Value, eviction_policy Eviction = lru,
          concurrency_policy Concurrency = mutex_locked>
class loading_cache {
 public:
  using cache_type = cache<Key, Value, Eviction, Concurrency>;
  using options = typename cache_type::options;

  // capacity and opts as for scaling::cache; negative as above.
  // Throws scaling::invalid_argument for a bad capacity, a TTL <= 0, or a negative_ttl <= 0
  // or negative_capacity 0 when negative caching is on.
  explicit loading_cache(std::size_t capacity, options opts = {},
                         negative_caching_options negative = {})
      : clock_(opts.clock), negative_ttl_(negative.negative_ttl) {
    if (negative_ttl_ && negative_ttl_->count() <= 0) {
      detail::throw_invalid_argument("scaling::loading_cache", "negative_ttl", "must be > 0 ns",
                                     negative_ttl_->count());
    }
    if (negative_ttl_) {
      if (negative.negative_capacity == 0) {
        detail::throw_invalid_argument("scaling::loading_cache", "negative_capacity",
                                       "must be >= 1", negative.negative_capacity);
      }
      negative_.emplace(negative.negative_capacity,
                        typename negative_cache::options{.clock = clock_});
    }
    values_.emplace(capacity, std::move(opts));
  }

  // The cached value, or loader(key) run once for all concurrent callers of this key, then
  // cached. Returns nullopt when the loader found nothing.
  // Throws whatever the loader threw (to every waiter of that load).
  template <class Loader>
  requires std::convertible_to<std::invoke_result_t<Loader&, const Key&>, std::optional<Value>>
      std::optional<Value> get_or_load(const Key& key, Loader&& loader) {
    if (auto hit = values_->get(key)) return hit;
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
      std::optional<Value> loaded;
      try {
        loaded = loader(key);
      } catch (...) {
        if (negative_) negative_->put(key, std::current_exception(), *negative_ttl_);
        throw;
      }
      if (loaded) {
        values_->put(key, *loaded);
      } else if (negative_) {
        negative_->put(key, std::exception_ptr{}, *negative_ttl_);
      }
      return loaded;
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

 private:
  using negative_cache = cache<Key, std::exception_ptr, lru, Concurrency>;

  cache_clock clock_;
  std::optional<std::chrono::nanoseconds> negative_ttl_;
  std::optional<cache_type> values_;
  std::optional<negative_cache> negative_;
  single_flight<Key, std::optional<Value>> flights_;
  relaxed_counter negative_hits_;
};

}  // namespace scaling
