// scaling/caching/two_level_cache.hpp: an in-process near cache in front of a shared remote
// cache tier (Redis, memcached), kept coherent by the tier's invalidations when it has them.
//
// What it is: `scaling::two_level_cache<Tier>`, where Tier is any `remote_cache_tier` (string
// keys and values: get, set with a TTL, get_many, erase). Reads are served from a bounded
// in-process `scaling::cache` (LRU, every entry capped at `near_ttl`) and go to the tier on a
// miss. When the tier is an `invalidating_cache_tier` (redis::cache_tier with tracking on: Redis
// client-side caching), the tier tells the near cache which keys changed, and a lost
// invalidation channel flushes the near cache and stops filling it until the channel is back,
// so no stale value is served past the loss. Without invalidations (memcached), near entries
// are stale for at most near_ttl after a write from elsewhere.
//
// When to pick it: hot keys read far more often than written, where a Redis or memcached round
// trip (~50-200 us) per read is the cost to remove. Not for data that must be read-your-write
// across processes within microseconds (an invalidation is a message: it takes a round trip).
//
//   scaling::redis::cache_tier remote{{.port = 6379}, {.tracking = scaling::redis::tracking::on}};
//   scaling::two_level_cache cache{remote, {.near_capacity = 10'000, .near_ttl = 30s}};
//   cache.set("user:42", "ada", 10min);        // to Redis; the near copy is dropped
//   auto v = cache.get("user:42");             // Redis once, then from memory until invalidated
//
// The race it closes (Redis docs, "client-side caching"): an invalidation can overtake the
// reply of the read it invalidates. Each miss marks its key "loading" before it asks the tier;
// an invalidation of a loading key (or a flush) makes the reply go to the caller but not into
// the near cache.
//
// Thread safety: every member may be called from any thread; the tier's invalidation thread
// calls the sink members. Values are handed out as copies.
// Complexity: a near hit is one hash lookup under the near cache's mutex; a miss is one tier
// call plus O(1) bookkeeping; get_many sends all near misses in one tier call.
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <scaling/caching/cache.hpp>
#include <scaling/core/error.hpp>

namespace scaling {

// A shared cache reached over the network: string keys and values, a TTL per write
// (zero = no expiry), batched reads. redis::cache_tier and memcached::pool model it.
template <class T>
concept remote_cache_tier = requires(T& tier, const std::string& key, const std::string& value,
                                     std::chrono::milliseconds ttl,
                                     const std::vector<std::string>& keys) {
  { tier.get(key) } -> std::same_as<std::optional<std::string>>;
  tier.set(key, value, ttl);
  { tier.get_many(keys) } -> std::same_as<std::vector<std::optional<std::string>>>;
  { tier.erase(key) } -> std::same_as<bool>;
};

// What a tier with invalidations tells the cache in front of it. Called from the tier's own
// thread; implementations must not call back into the tier.
class invalidation_sink {
 public:
  // These keys changed (or expired, or were evicted) on the server.
  virtual void invalidate(std::span<const std::string> keys) = 0;
  // Everything may have changed (FLUSHALL, FLUSHDB).
  virtual void invalidate_all() = 0;
  // The invalidation channel is up (true) or lost (false). While it is lost, nothing read
  // from the tier may be kept: the sink flushes and stops caching.
  virtual void set_coherent(bool coherent) = 0;

 protected:
  ~invalidation_sink() = default;
};

// A remote_cache_tier that pushes invalidations to one sink (nullptr unregisters; the tier
// tells a new sink at once whether it is coherent).
template <class T>
concept invalidating_cache_tier = remote_cache_tier<T> &&
    requires(T& tier, invalidation_sink* sink) {
  tier.set_invalidation_sink(sink);
};

struct two_level_cache_options {
  // Entries kept in process. Must be >= 1.
  std::size_t near_capacity = 10'000;
  // Longest a near entry lives, whatever the tier says (a safety net against a missed
  // invalidation, and the staleness bound for tiers without invalidations). Must be > 0.
  std::chrono::milliseconds near_ttl{30'000};
};

// A snapshot of a two_level_cache's counters.
struct two_level_cache_stats {
  std::uint64_t near_hits = 0;      // served from memory
  std::uint64_t remote_hits = 0;    // near miss, found in the tier
  std::uint64_t remote_misses = 0;  // near miss, absent from the tier
  std::uint64_t invalidations = 0;  // keys the tier said changed
  std::uint64_t flushes = 0;        // whole near cache dropped (FLUSHALL, channel lost)
  std::uint64_t dropped_loads = 0;  // replies not kept: invalidated while loading
  std::size_t near_size = 0;        // entries in memory now
  bool coherent = true;             // false while a tier's invalidation channel is down

  // near_hits / all reads, 0 before the first read.
  [[nodiscard]] double near_hit_ratio() const noexcept {
    return ratio(near_hits, near_hits + remote_hits + remote_misses);
  }
};

template <remote_cache_tier Tier>
class two_level_cache final : private invalidation_sink {
 public:
  // Registers with the tier when it sends invalidations (and then starts incoherent: nothing
  // is cached in memory until the tier reports its channel up).
  // Throws: scaling::invalid_argument if near_capacity == 0 or near_ttl <= 0.
  two_level_cache(Tier& tier, two_level_cache_options options = {})
      : tier_(tier), options_(checked(options)), near_(options_.near_capacity) {
    if constexpr (invalidating_cache_tier<Tier>) {
      coherent_ = false;
      tier_.set_invalidation_sink(this);
    }
  }
  two_level_cache(const two_level_cache&) = delete;
  two_level_cache& operator=(const two_level_cache&) = delete;
  ~two_level_cache() {
    if constexpr (invalidating_cache_tier<Tier>) tier_.set_invalidation_sink(nullptr);
  }

  // The value of `key`: from memory, else from the tier (and then kept in memory when
  // nothing invalidated it meanwhile).
  // Throws: whatever the tier throws (the near cache is unchanged then).
  [[nodiscard]] std::optional<std::string> get(const std::string& key) {
    if (auto v = near_.get(key)) {
      count(&two_level_cache_stats::near_hits, 1);
      return v;
    }
    const std::uint64_t epoch = begin_load(key);
    std::optional<std::string> value;
    try {
      value = tier_.get(key);
    } catch (...) {
      end_load(key, epoch, nullptr);
      throw;
    }
    end_load(key, epoch, value ? &*value : nullptr);
    count(value ? &two_level_cache_stats::remote_hits : &two_level_cache_stats::remote_misses, 1);
    return value;
  }

  // The values of `keys`, in order; near misses go to the tier in one get_many.
  // Throws: whatever the tier throws.
  [[nodiscard]] std::vector<std::optional<std::string>> get_many(
      const std::vector<std::string>& keys) {
    std::vector<std::optional<std::string>> out(keys.size());
    std::vector<std::string> missing;
    std::vector<std::size_t> where;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      out[i] = near_.get(keys[i]);
      if (!out[i]) {
        missing.push_back(keys[i]);
        where.push_back(i);
      }
    }
    count(&two_level_cache_stats::near_hits, keys.size() - missing.size());
    if (missing.empty()) return out;
    std::vector<std::uint64_t> epochs;
    epochs.reserve(missing.size());
    for (const auto& k : missing)
      epochs.push_back(begin_load(k));
    std::vector<std::optional<std::string>> got;
    try {
      got = tier_.get_many(missing);
    } catch (...) {
      for (std::size_t i = 0; i < missing.size(); ++i)
        end_load(missing[i], epochs[i], nullptr);
      throw;
    }
    std::uint64_t hits = 0;
    for (std::size_t i = 0; i < missing.size(); ++i) {
      const std::string* v = i < got.size() && got[i] ? &*got[i] : nullptr;
      end_load(missing[i], epochs[i], v);
      if (v != nullptr) {
        ++hits;
        out[where[i]] = *v;
      }
    }
    count(&two_level_cache_stats::remote_hits, hits);
    count(&two_level_cache_stats::remote_misses, missing.size() - hits);
    return out;
  }

  // Writes through to the tier (ttl zero: no expiry) and drops the near copy; the next read
  // loads the stored value.
  // Throws: whatever the tier throws (the near copy is dropped either way).
  void set(const std::string& key, const std::string& value, std::chrono::milliseconds ttl) {
    forget(key);
    tier_.set(key, value, ttl);
    forget(key);
  }

  // Deletes from the tier and from memory. Returns whether the tier had the key.
  bool erase(const std::string& key) {
    forget(key);
    const bool had = tier_.erase(key);
    forget(key);
    return had;
  }

  // Whether `key` is in memory now (no tier call; for tests and monitoring).
  [[nodiscard]] bool near_contains(const std::string& key) const { return near_.contains(key); }

  [[nodiscard]] two_level_cache_stats stats() const {
    std::lock_guard lock{mutex_};
    two_level_cache_stats s = stats_;
    s.near_size = near_.size();
    s.coherent = coherent_;
    return s;
  }

  [[nodiscard]] Tier& tier() noexcept { return tier_; }
  [[nodiscard]] const two_level_cache_options& options() const noexcept { return options_; }

 private:
  struct loading {
    std::uint32_t readers = 0;
    bool invalidated = false;
  };

  static two_level_cache_options checked(two_level_cache_options o) {
    constexpr std::string_view who = "scaling::two_level_cache";
    if (o.near_capacity == 0) {
      detail::throw_invalid_argument(who, "near_capacity", "must be >= 1", o.near_capacity);
    }
    if (o.near_ttl.count() <= 0) {
      detail::throw_invalid_argument(who, "near_ttl", "must be > 0 ms", o.near_ttl.count());
    }
    return o;
  }

  void count(std::uint64_t two_level_cache_stats::*field, std::uint64_t n) {
    if (n == 0) return;
    std::lock_guard lock{mutex_};
    stats_.*field += n;
  }

  std::uint64_t begin_load(const std::string& key) {
    std::lock_guard lock{mutex_};
    ++loading_[key].readers;
    return epoch_;
  }

  // Keeps `value` in memory unless the key was invalidated or the cache flushed since
  // begin_load; the near write happens under the same lock the invalidations take, so an
  // invalidation is either seen here or applied after the write.
  void end_load(const std::string& key, std::uint64_t epoch, const std::string* value) {
    std::lock_guard lock{mutex_};
    auto it = loading_.find(key);
    const bool invalidated = it != loading_.end() && it->second.invalidated;
    if (it != loading_.end() && --it->second.readers == 0) loading_.erase(it);
    if (value == nullptr) return;
    if (invalidated || epoch != epoch_ || !coherent_) {
      ++stats_.dropped_loads;
      return;
    }
    near_.put(key, *value, options_.near_ttl);
  }

  void forget(const std::string& key) {
    std::lock_guard lock{mutex_};
    if (auto it = loading_.find(key); it != loading_.end()) it->second.invalidated = true;
    (void)near_.erase(key);
  }

  void invalidate(std::span<const std::string> keys) override {
    std::lock_guard lock{mutex_};
    for (const auto& key : keys) {
      if (auto it = loading_.find(key); it != loading_.end()) it->second.invalidated = true;
      (void)near_.erase(key);
    }
    stats_.invalidations += keys.size();
  }

  void invalidate_all() override {
    std::lock_guard lock{mutex_};
    flush_locked();
  }

  void set_coherent(bool coherent) override {
    std::lock_guard lock{mutex_};
    if (!coherent && coherent_) flush_locked();
    // Loads that started before the channel came up may have read without tracking: a new
    // epoch keeps them out of memory.
    if (coherent && !coherent_) ++epoch_;
    coherent_ = coherent;
  }

  void flush_locked() {
    ++epoch_;
    for (auto& [key, state] : loading_)
      state.invalidated = true;
    near_.clear();
    ++stats_.flushes;
  }

  Tier& tier_;
  two_level_cache_options options_;
  cache<std::string, std::string, lru, mutex_locked> near_;
  mutable std::mutex mutex_;  // loading_, epoch_, coherent_, stats_; taken before near_'s lock
  std::unordered_map<std::string, loading> loading_;
  std::uint64_t epoch_ = 0;
  bool coherent_ = true;
  two_level_cache_stats stats_;
};

}  // namespace scaling
