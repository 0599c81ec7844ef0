// scaling/caching/cache.hpp: a bounded in-memory cache with pluggable eviction and locking.
//
// What it is: `scaling::cache<Key, Value, Eviction, Concurrency>`, a key-value map bounded by
// entry count (or by total weight with a weigher) that evicts by a policy tag (`lru` default,
// `lfu`, `fifo`, `clock`, `sieve`, `s3fifo`, `w_tinylfu`, `arc`, `lirs`, `adaptive`), expires
// entries (after write, after access, or per-entry TTL) on a clock you choose, reports removals to
// a listener with their cause, and keeps statistics. Reads return copies (`get`) or run a callback
// under the lock (`visit`), so no reference into the cache ever escapes a lock; `get_with_expiry`
// also returns the entry's deadline. Keys: a `cache_key` (copyable, equality-comparable, hashed by
// scaling::hash or std::hash); a key type without a hash is rejected at the declaration, naming
// that concept. With both expire_after_write and expire_after_access, an entry expires at the
// earlier of its write + the first and its last access + the second. When to pick it: in front of
// anything slower than memory (a database, a service, a computation) when stale-for-a-TTL data is
// acceptable. Pick the policy from the workload (docs/patterns/application-caching.md); add the
// loaders (loading_cache.hpp, cache_aside.hpp, write_behind.hpp, refresh_ahead.hpp) for
// read-through, write-through, write-behind and refresh-ahead.
//
//   using namespace std::chrono_literals;
//   scaling::manual_clock clock;
//   scaling::cache<std::string, int, scaling::w_tinylfu, scaling::sharded<8>> c{
//       10'000, {.expire_after_write = 5min, .clock = clock}};
//   c.put("a", 1);
//   if (auto v = c.get("a")) use(*v);               // a copy
//
// Thread safety: as the Concurrency tag says: `single_threaded` none; `mutex_locked` and
// `sharded<N>` allow any member from any thread. The listener and the weigher run outside and
// inside the lock respectively: the weigher must not call the cache; the listener may.
// Complexity: O(1) amortised per operation (one hash lookup, O(1) policy work; expired
// entries are found on read, by eviction, and by a sweep of two slots per write).
// Exceptions: bad configuration and bad weights throw scaling::invalid_argument; if copying a
// key or value throws in `put`, the cache is unchanged (strong guarantee: contents, policy
// order, statistics), apart from expired entries the write swept first. A replacing put builds
// the new value first and then moves it in, so a Value whose copy assignment could fail
// halfway is never left half-assigned; only a Value whose move assignment may throw is
// assigned in place, with the guarantee its own assignment gives. If the copy out of
// `get` (or `visit`'s callback) throws, the entry stays and the read counts as the hit it was.
// A removal always completes; if its notification cannot be queued (out of memory, or a key or
// value without a move constructor whose copy throws), the listener is not told of it.
#pragma once

#include <algorithm>
#include <bit>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/unordered/unordered_flat_map.hpp>

#include <scaling/caching/adaptive.hpp>
#include <scaling/caching/arc.hpp>
#include <scaling/caching/clock.hpp>
#include <scaling/caching/concurrency.hpp>
#include <scaling/caching/eviction_policy.hpp>
#include <scaling/caching/fifo.hpp>
#include <scaling/caching/lfu.hpp>
#include <scaling/caching/lirs.hpp>
#include <scaling/caching/lru.hpp>
#include <scaling/caching/s3fifo.hpp>
#include <scaling/caching/sieve.hpp>
#include <scaling/caching/w_tinylfu.hpp>
#include <scaling/core/clock.hpp>
#include <scaling/core/config.hpp>
#include <scaling/core/error.hpp>
#include <scaling/core/hash.hpp>
#include <scaling/core/stats.hpp>

namespace scaling {

// Why an entry left the cache, as the eviction listener is told.
enum class removal_cause : std::uint8_t {
  size,      // evicted by the policy to make room
  expired,   // its time to live ran out
  erased,    // erase() or clear()
  replaced,  // put() stored a new value for the key (the listener sees the old one)
};

// A snapshot of a cache's counters.
struct cache_stats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t evictions = 0;    // removal_cause::size
  std::uint64_t expirations = 0;  // removal_cause::expired
  std::uint64_t puts = 0;

  [[nodiscard]] std::uint64_t requests() const noexcept { return hits + misses; }
  // hits / (hits + misses), 0 before the first read.
  [[nodiscard]] double hit_ratio() const noexcept { return scaling::ratio(hits, hits + misses); }
};

// Any clock_source, type-erased into "nanoseconds since its epoch", so the cache's type does
// not depend on the clock. Default: std::chrono::steady_clock.
class cache_clock {
 public:
  cache_clock() : now_([] { return std::chrono::steady_clock::now().time_since_epoch(); }) {}
  // The self-type check comes first: checking clock_source<cache_clock> would recurse
  // through copy_constructible<cache_clock> into this very constructor (Clang rejects that).
  template <class Clock>
  requires(!std::same_as<std::remove_cvref_t<Clock>, cache_clock> && clock_source<Clock>)
      cache_clock(Clock clock)  // NOLINT(google-explicit-constructor): reads as `.clock = clk`
      : now_([clock = std::move(clock)]() -> std::chrono::nanoseconds {
          return std::chrono::duration_cast<std::chrono::nanoseconds>(
              clock.now().time_since_epoch());
        }) {}

  [[nodiscard]] std::chrono::nanoseconds now() const { return now_(); }

 private:
  std::function<std::chrono::nanoseconds()> now_;
};

// Construction options. Durations must be > 0 when given.
template <class Key, class Value>
struct cache_options {
  // An entry expires this long after it was written (put or replaced).
  std::optional<std::chrono::nanoseconds> expire_after_write{};
  // An entry expires this long after it was last read or written.
  std::optional<std::chrono::nanoseconds> expire_after_access{};
  // Where time comes from (only read when some expiry is in use).
  cache_clock clock{};
  // The weight of an entry (>= 1 and <= capacity); when set, capacity is a total weight
  // (bytes, say). Runs under the segment's lock: it must not call the cache.
  std::function<std::size_t(const Key&, const Value&)> weigher{};
  // Told of every removal with its cause; runs after the lock is released, on the thread
  // whose call caused the removal.
  std::function<void(const Key&, const Value&, removal_cause)> listener{};
};

// A copy of a cached value and the time its entry expires (cache::get_with_expiry).
template <class Value>
struct expiring_value {
  Value value;
  // The entry's deadline, in nanoseconds since the epoch of the cache's clock (the scale of
  // cache_clock::now()); nullopt when it never expires.
  std::optional<std::chrono::nanoseconds> expires_at;
};

namespace detail {

// The index's hash. Integer keys use the identity (std::hash) and let the table mix it (Boost's
// flat map multiplies non-avalanching hashes): cheaper than XXH3 for 8 bytes and as well
// spread. Strings use XXH3, faster than std::hash on them. Other keys: std::hash.
// Shard selection always uses scaling::hash, so keys land on the same segment everywhere.
template <class Key>
using default_cache_hash =
    std::conditional_t<std::is_integral_v<Key> || std::is_enum_v<Key>, std::hash<Key>,
                       std::conditional_t<default_hashable<Key>, scaling::hash<>, std::hash<Key>>>;

}  // namespace detail

// A key scaling::cache (and loading_cache) can index: copyable, equality-comparable, and
// hashable, by scaling::hash (default_hashable: integers, enums, strings, byte spans) or by a
// std::hash specialization.
template <class Key>
concept cache_key = std::copy_constructible<Key> && std::equality_comparable<Key> &&
    hasher_for<detail::default_cache_hash<Key>, Key>;

namespace detail {

template <class P>
concept eviction_needs_hash =
    !std::same_as<P, lru> && !std::same_as<P, fifo> && !std::same_as<P, scaling::clock> &&
    !std::same_as<P, sieve> && !std::same_as<P, lfu>;

// Whether on_hit needs the key's hash: a policy tag that takes it only on insertion and misses
// says so with `static constexpr bool hit_needs_hash = false;`, and its hits skip the hashing.
template <class P>
[[nodiscard]] constexpr bool hit_needs_hash() noexcept {
  if constexpr (requires { P::hit_needs_hash; }) {
    return eviction_needs_hash<P> && P::hit_needs_hash;
  } else {
    return eviction_needs_hash<P>;
  }
}

template <class Key, class Value>
struct removal {
  Key key;
  Value value;
  removal_cause cause;
};

inline constexpr std::int64_t never_expires = std::numeric_limits<std::int64_t>::max();

// What the segments of one cache share for policy P: P::shared when segments_share<P>, else
// nothing.
template <class P>
struct segment_shared {
  struct type {};
};
template <segments_share P>
struct segment_shared<P> {
  using type = typename P::shared;
};

// One independently locked part of a cache: the map, the slots and the policy state.
template <class Key, class Value, class Eviction>
class cache_segment {
 public:
  using hasher = default_cache_hash<Key>;
  using options_type = cache_options<Key, Value>;

  cache_segment(std::size_t capacity, const options_type* options)
      : options_(options), capacity_(capacity), policy_(capacity) {
    uses_expiry_ = options_->expire_after_write || options_->expire_after_access;
    notify_ = static_cast<bool>(options_->listener);
    if (!options_->weigher) {
      // Room for half as many again as the cache holds: an open-addressing table under
      // constant erase/insert churn rehashes when its tombstone budget runs out, and the
      // slack makes that rare (amortised O(1), not a rehash every few thousand misses).
      index_.reserve(std::min<std::size_t>(capacity + capacity / 2, std::size_t{1} << 26));
    }
  }

  // The key's portable hash (scaling::hash where it applies): shard choice and the policies'
  // sketches and ghosts use it.
  [[nodiscard]] static std::uint64_t hash_of(const Key& key) {
    if constexpr (default_hashable<Key>) {
      return scaling::hash<>{}(key);
    } else {
      return static_cast<std::uint64_t>(std::hash<Key>{}(key));
    }
  }

  // Reads the entry: a pointer to its value on a hit (valid until the next call on this
  // segment), nullptr on a miss. Counts the hit or miss and tells the policy. On a hit, when
  // expires_at is given, stores the entry's deadline there (never_expires: none).
  [[nodiscard]] const Value* read(const Key& key, std::int64_t* expires_at = nullptr) {
    const auto it = index_.find(key);
    if (it == index_.end()) {
      ++stats_.misses;
      if constexpr (eviction_needs_hash<Eviction>) policy_.on_miss(hash_of(key));
      return nullptr;
    }
    node& n = it->second;
    if (n.expires_at != never_expires) [[unlikely]] {
      const std::int64_t now = now_ns();
      if (now >= n.expires_at) {
        policy_.on_remove(n.slot);
        release(it, removal_cause::expired);
        ++stats_.misses;
        if constexpr (eviction_needs_hash<Eviction>) policy_.on_miss(hash_of(key));
        return nullptr;
      }
      // expire_after_access slides the deadline, never past the write's own (write_cap_).
      if (options_->expire_after_access && ttl_[n.slot] > 0) {
        n.expires_at = std::min(deadline(now, ttl_[n.slot]), write_cap_[n.slot]);
      }
    }
    ++stats_.hits;
    if constexpr (hit_needs_hash<Eviction>()) {
      policy_.on_hit(n.slot, hash_for_policy(key));
    } else {
      policy_.on_hit(n.slot, 0);
    }
    if (expires_at != nullptr) *expires_at = n.expires_at;
    return &n.value;
  }

  [[nodiscard]] bool contains(const Key& key) const { return peek(key) != nullptr; }

  // The fresh entry's value, or nullptr: not a read (no statistics, no policy update, no
  // removal of an expired entry).
  [[nodiscard]] const Value* peek(const Key& key) const {
    const auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    const node& n = it->second;
    if (n.expires_at != never_expires && now_ns() >= n.expires_at) return nullptr;
    return &n.value;
  }

  // Inserts or replaces. ttl_ns: 0 = the options' expiry, otherwise this entry's own TTL.
  template <class K, class V>
  void write(K&& key, V&& value, std::int64_t ttl_ns) {
    const std::uint32_t w = weigh(key, value);
    sweep();
    const auto it = index_.find(key);
    if (it != index_.end()) {
      replace(it, std::forward<V>(value), w, ttl_ns);
    } else {
      insert(std::forward<K>(key), std::forward<V>(value), w, ttl_ns);
    }
    ++stats_.puts;  // only once the copies succeeded: a put that throws changes nothing
  }

  bool erase(const Key& key) {
    const auto it = index_.find(key);
    if (it == index_.end()) return false;
    const node& n = it->second;
    const bool live = n.expires_at == never_expires || now_ns() < n.expires_at;
    policy_.on_remove(n.slot);
    release(it, live ? removal_cause::erased : removal_cause::expired);
    return live;
  }

  void clear() {
    if (notify_) {
      for (auto& [key, n] : index_) {
        try {
          pending_.push_back({key, std::move(n.value), removal_cause::erased});
        } catch (...) {
          // Queueing the notification failed (out of memory, or a throwing copy of an entry
          // without a move constructor): the removal itself must complete.
        }
      }
    }
    index_.clear();
    free_.clear();
    for (slot_index s = 0; s < keys_.size(); ++s) {
      keys_[s].reset();
      free_.push_back(s);
    }
    policy_.clear();
    weight_ = 0;
  }

  // Removes every expired entry now (a full scan: for maintenance threads, not the hot path).
  std::size_t remove_expired() {
    if (!uses_expiry_) return 0;
    const std::int64_t now = now_ns();
    std::vector<slot_index> expired;
    for (const auto& [key, n] : index_) {
      if (n.expires_at <= now) expired.push_back(n.slot);
    }
    for (const slot_index s : expired) {
      policy_.on_remove(s);
      release(index_.find(*keys_[s]), removal_cause::expired);
    }
    return expired.size();
  }

  [[nodiscard]] std::size_t size() const noexcept { return index_.size(); }
  [[nodiscard]] std::uint64_t weight() const noexcept { return weight_; }
  [[nodiscard]] const cache_stats& stats() const noexcept { return stats_; }
  void reset_stats() noexcept { stats_ = {}; }
  [[nodiscard]] bool notifies() const noexcept { return notify_; }
  std::vector<removal<Key, Value>>& pending() noexcept { return pending_; }
  [[nodiscard]] const typename Eviction::state& policy() const noexcept { return policy_; }
  // Attaches the policy to what the cache's segments share (segments_share), before any other
  // call.
  template <class Shared>
  void attach_policy(Shared& shared, std::size_t index) {
    policy_.attach(shared, index);
  }

 private:
  // The value lives in the index itself, so a hit touches the index and nothing else but the
  // policy's own arrays. The policy names entries by slot; keys_ maps a slot back to its key
  // for evictions and sweeps.
  struct node {
    Value value;
    std::int64_t expires_at;
    std::uint32_t weight;
    slot_index slot;
  };
  using index_type = boost::unordered_flat_map<Key, node, hasher>;
  using index_iterator = typename index_type::iterator;

  [[nodiscard]] std::int64_t now_ns() const { return options_->clock.now().count(); }
  [[nodiscard]] static std::int64_t deadline(std::int64_t now, std::int64_t ttl) noexcept {
    return ttl > never_expires - now ? never_expires : now + ttl;
  }

  template <class K, class V>
  std::uint32_t weigh(const K& key, const V& value) const {
    if (!options_->weigher) return 1;
    const std::size_t w = options_->weigher(key, value);
    if (w == 0) {
      detail::throw_invalid_argument("scaling::cache", "weigher result", "must be >= 1", w);
    }
    if (w > capacity_ || w > std::numeric_limits<std::uint32_t>::max()) {
      detail::throw_invalid_argument("scaling::cache", "weigher result",
                                     "must not exceed the segment capacity", w);
    }
    return static_cast<std::uint32_t>(w);
  }

  // The expiry a write sets: its deadline, the TTL a read re-arms (expire_after_access) and
  // the deadline no read extends (write_cap: expire_after_write, when both are set).
  struct expiry {
    std::int64_t expires_at = never_expires;
    std::int64_t access_ttl = 0;
    std::int64_t write_cap = never_expires;
  };

  // own: 0 = the options' expiry, otherwise this entry's own TTL, which replaces both of them
  // (re-armed by reads under expire_after_access, as the access TTL would be).
  [[nodiscard]] expiry expiry_for(std::int64_t own) const {
    const auto& write = options_->expire_after_write;
    const auto& access = options_->expire_after_access;
    if (own <= 0 && !write && !access) return {};
    const std::int64_t now = now_ns();
    expiry e;
    if (own > 0) {
      e.expires_at = deadline(now, own);
      if (access) e.access_ttl = own;
      return e;
    }
    if (write) e.write_cap = deadline(now, write->count());
    if (access) {
      e.access_ttl = access->count();
      e.expires_at = std::min(deadline(now, e.access_ttl), e.write_cap);
    } else {
      e.expires_at = e.write_cap;
    }
    return e;
  }

  // Records e for slot s (whose node already holds e.expires_at).
  void set_slot_expiry(slot_index s, const expiry& e) noexcept {
    if (e.expires_at != never_expires) uses_expiry_ = true;
    if (options_->expire_after_access) {
      ttl_[s] = e.access_ttl;
      write_cap_[s] = e.write_cap;
    }
  }

  // Queues the notification that the entry's old value was replaced (a copy of it).
  void queue_replaced(index_iterator it) {
    if (notify_) pending_.push_back({it->first, it->second.value, removal_cause::replaced});
  }

  template <class V>
  void replace(index_iterator it, V&& value, std::uint32_t w, std::int64_t own_ttl) {
    node& n = it->second;
    const expiry e = expiry_for(own_ttl);
    if constexpr (std::is_nothrow_move_assignable_v<Value>) {
      // Everything that can throw happens before the old value is touched: building the new
      // value, then copying the old one for the listener. The move in cannot fail, so a
      // copy assignment that would throw halfway is never used.
      Value fresh(std::forward<V>(value));
      queue_replaced(it);
      n.value = std::move(fresh);
    } else {
      queue_replaced(it);  // copy the old value first: if that throws, nothing has changed
      try {
        n.value = std::forward<V>(value);
      } catch (...) {
        if (notify_) pending_.pop_back();
        throw;
      }
    }
    n.expires_at = e.expires_at;
    set_slot_expiry(n.slot, e);
    const std::uint32_t old_w = n.weight;
    n.weight = w;
    weight_ = weight_ - old_w + w;
    policy_.on_update(n.slot, hash_for_policy(it->first), old_w, w);
    while (weight_ > capacity_)
      evict_one(0);
  }

  template <class K, class V>
  void insert(K&& key, V&& value, std::uint32_t w, std::int64_t own_ttl) {
    const expiry e = expiry_for(own_ttl);
    const slot_index s = acquire_slot();
    std::uint64_t hash = 0;
    try {
      keys_[s].emplace(key);
      index_.try_emplace(std::forward<K>(key),
                         node{Value(std::forward<V>(value)), e.expires_at, w, s});
      hash = hash_for_policy(*keys_[s]);
    } catch (...) {
      keys_[s].reset();
      free_.push_back(s);
      throw;
    }
    set_slot_expiry(s, e);
    // Make room before the policy sees the newcomer, so it can never be its own victim
    // (CLOCK and SIEVE would otherwise pick it at once).
    while (weight_ + w > capacity_ && index_.size() > 1)
      evict_one(w);
    weight_ += w;
    policy_.on_insert(s, hash, w);
  }

  [[nodiscard]] static std::uint64_t hash_for_policy(const Key& key) {
    if constexpr (eviction_needs_hash<Eviction>) {
      return hash_of(key);
    } else {
      return 0;
    }
  }

  slot_index acquire_slot() {
    if (free_.empty()) {
      const std::size_t n = keys_.size();
      if (n >= no_slot) {
        detail::throw_invalid_argument("scaling::cache", "size", "must stay below 2^32 - 1", n);
      }
      keys_.emplace_back();
      if (options_->expire_after_access) {
        ttl_.resize(keys_.capacity());
        write_cap_.resize(keys_.capacity(), never_expires);
      }
      free_.reserve(keys_.capacity());
      policy_.reserve(keys_.capacity());
      return static_cast<slot_index>(n);
    }
    const slot_index s = free_.back();
    free_.pop_back();
    return s;
  }

  void evict_one(std::uint32_t incoming) {
    const slot_index s = policy_.evict(incoming);
    SCALING_ASSERT(s != no_slot && keys_[s].has_value(), "policy evicted an empty slot");
    const auto it = index_.find(*keys_[s]);
    const std::int64_t expires_at = it->second.expires_at;
    const bool expired = expires_at != never_expires && now_ns() >= expires_at;
    release(it, expired ? removal_cause::expired : removal_cause::size);
  }

  // Counts, notifies and frees an entry the policy no longer tracks.
  void release(index_iterator it, removal_cause cause) {
    node& n = it->second;
    const slot_index s = n.slot;
    if (cause == removal_cause::size) ++stats_.evictions;
    if (cause == removal_cause::expired) ++stats_.expirations;
    weight_ -= n.weight;
    if (notify_) {
      try {
        pending_.push_back({std::move(*keys_[s]), std::move(n.value), cause});
      } catch (...) {
        // Queueing the notification failed (out of memory, or a throwing copy of an entry
        // without a move constructor): the removal itself must complete.
      }
    }
    index_.erase(it);
    keys_[s].reset();
    free_.push_back(s);  // never allocates: reserved to the slot table's capacity
  }

  // Amortised cleanup: each write looks at the next two slots and drops them if expired, so
  // expired entries nobody reads give their memory back within ~capacity/2 writes.
  void sweep() {
    if (!uses_expiry_ || keys_.empty()) return;
    std::int64_t now = 0;
    bool have_now = false;
    for (int i = 0; i < 2; ++i) {
      if (sweep_at_ >= keys_.size()) sweep_at_ = 0;
      const slot_index s = sweep_at_++;
      if (!keys_[s]) continue;
      const auto it = index_.find(*keys_[s]);
      if (it->second.expires_at == never_expires) continue;
      if (!have_now) {
        now = now_ns();
        have_now = true;
      }
      if (it->second.expires_at <= now) {
        policy_.on_remove(s);
        release(it, removal_cause::expired);
      }
    }
  }

  const options_type* options_;
  std::uint64_t capacity_;
  std::uint64_t weight_ = 0;
  bool uses_expiry_ = false;
  bool notify_ = false;
  slot_index sweep_at_ = 0;
  index_type index_;
  std::vector<std::optional<Key>> keys_;
  // Per slot, under expire_after_access: the TTL a read re-arms, and the deadline no read
  // extends (the write's, with expire_after_write; never_expires without).
  std::vector<std::int64_t> ttl_;
  std::vector<std::int64_t> write_cap_;
  std::vector<slot_index> free_;
  typename Eviction::state policy_;
  cache_stats stats_;
  std::vector<removal<Key, Value>> pending_;
};

// A segment with its lock, on its own cache lines so segments don't share them.
template <class Segment, class Mutex>
struct alignas(cache_line_size) locked_segment {
  template <class... Args>
  explicit locked_segment(Args&&... args) : segment(std::forward<Args>(args)...) {}
  [[no_unique_address]] mutable Mutex mutex;
  Segment segment;
};

}  // namespace detail

// The cache. See the banner at the top of this header.
//
// Template parameters:
//   Key: a cache_key: copyable, equality-comparable; hashed with scaling::hash when
//        default_hashable (integers, strings), else std::hash<Key>.
//   Value: copy-constructible (get returns a copy).
//   Eviction: an eviction_policy tag (lru, lfu, fifo, clock, sieve, s3fifo, w_tinylfu, arc,
//             lirs, adaptive).
//   Concurrency: a concurrency_policy tag (single_threaded, mutex_locked, sharded<N>).
template <cache_key Key, class Value, eviction_policy Eviction = lru,
          concurrency_policy Concurrency = single_threaded>
class cache {
  using segment_type = detail::cache_segment<Key, Value, Eviction>;
  using holder = detail::locked_segment<segment_type, typename Concurrency::mutex_type>;
  static constexpr std::size_t segment_count = Concurrency::segments;

 public:
  using key_type = Key;
  using mapped_type = Value;
  using eviction_type = Eviction;
  using concurrency_type = Concurrency;
  using options = cache_options<Key, Value>;

  // capacity: the most entries (or, with a weigher, the most total weight) the cache holds;
  // split evenly across the segments of sharded<N>.
  // Throws scaling::invalid_argument if capacity is 0 or smaller than the segment count, or a
  // given expiry duration is <= 0.
  explicit cache(std::size_t capacity, options opts = {})
      : options_(std::make_unique<options>(std::move(opts))), capacity_(capacity) {
    if (capacity == 0) {
      detail::throw_invalid_argument("scaling::cache", "capacity", "must be >= 1", capacity);
    }
    if (capacity < segment_count) {
      detail::throw_invalid_argument("scaling::cache", "capacity",
                                     "must be >= the number of segments (sharded<N>)", capacity);
    }
    check_duration("expire_after_write", options_->expire_after_write);
    check_duration("expire_after_access", options_->expire_after_access);
    if constexpr (segments_share<Eviction>) {
      shared_policy_ = std::make_unique<typename Eviction::shared>();
    }
    segments_.reserve(segment_count);
    for (std::size_t i = 0; i < segment_count; ++i) {
      const std::size_t share = capacity / segment_count + (i < capacity % segment_count ? 1 : 0);
      segments_.push_back(std::make_unique<holder>(share, options_.get()));
      if constexpr (segments_share<Eviction>) {
        segments_.back()->segment.attach_policy(*shared_policy_, i);
      }
    }
  }

  cache(const cache&) = delete;
  cache& operator=(const cache&) = delete;

  // A copy of the value, or nullopt when absent or expired. Counts a hit or a miss.
  [[nodiscard]] std::optional<Value> get(const Key& key) {
    holder& h = segment_for(key);
    std::vector<detail::removal<Key, Value>> removed;
    {
      std::scoped_lock lock(h.mutex);
      // A hit removes nothing, so it returns at once, copying under the lock into the
      // returned object itself (no intermediate optional to copy again).
      if (const Value* v = h.segment.read(key)) return std::optional<Value>(*v);
      take_pending(h, removed);
    }
    notify(removed);
    return std::nullopt;
  }

  // As get, with the entry's deadline (expire_after_access: the one this read re-armed),
  // read in the same lookup under the same lock: for callers that act before expiry
  // (loading_cache's early expiration). Counts a hit or a miss.
  [[nodiscard]] std::optional<expiring_value<Value>> get_with_expiry(const Key& key) {
    holder& h = segment_for(key);
    std::vector<detail::removal<Key, Value>> removed;
    {
      std::scoped_lock lock(h.mutex);
      std::int64_t expires_at = detail::never_expires;
      if (const Value* v = h.segment.read(key, &expires_at)) {
        std::optional<std::chrono::nanoseconds> deadline;
        if (expires_at != detail::never_expires) deadline.emplace(expires_at);
        return expiring_value<Value>{*v, deadline};
      }
      take_pending(h, removed);
    }
    notify(removed);
    return std::nullopt;
  }

  // Calls f(const Value&) under the lock when the key is present and fresh; returns whether
  // it did. f must not call this cache. Counts a hit or a miss.
  template <class F>
  requires std::invocable<F&, const Value&>
  bool visit(const Key& key, F&& f) {
    bool hit = false;
    with_segment(key, [&](segment_type& s) {
      if (const Value* v = s.read(key)) {
        hit = true;
        f(*v);
      }
    });
    return hit;
  }

  // Stores value under key (replacing any previous value, whose removal the listener sees as
  // `replaced`). Evicts by the policy when full.
  // Throws scaling::invalid_argument if the weigher returns 0 or more than the segment's
  // capacity; rethrows a throwing copy/move of key or value (cache unchanged).
  template <class K, class V>
  requires std::constructible_from<Key, K&&> && std::constructible_from<Value, V&&>
  void put(K&& key, V&& value) {
    (void)store(std::forward<K>(key), std::forward<V>(value), 0, always);
  }

  // As put, with this entry's own time to live (overrides the options' expiry for it).
  // Throws scaling::invalid_argument if ttl <= 0.
  template <class K, class V, class Rep, class Period>
  requires std::constructible_from<Key, K&&> && std::constructible_from<Value, V&&>
  void put(K&& key, V&& value, std::chrono::duration<Rep, Period> ttl) {
    (void)store(std::forward<K>(key), std::forward<V>(value), checked_ttl(ttl), always);
  }

  // Stores value under key, as put, only if pred() returns true; pred runs under the key's
  // segment lock just before the write, so no other call on that segment falls between the
  // check and the write. Returns whether it stored. pred must not call this cache.
  // This is how a load installs its value only while its invalidation lease is valid
  // (invalidation.hpp). Throws as put, and what pred throws (cache unchanged).
  template <class K, class V, class Pred>
  requires std::constructible_from<Key, K&&> && std::constructible_from<Value, V&&> &&
      std::predicate<Pred&>
  bool put_if(K&& key, V&& value, Pred&& pred) {
    return store(std::forward<K>(key), std::forward<V>(value), 0, pred);
  }

  // As put_if, with this entry's own time to live. Throws scaling::invalid_argument if ttl <= 0.
  template <class K, class V, class Rep, class Period, class Pred>
  requires std::constructible_from<Key, K&&> && std::constructible_from<Value, V&&> &&
      std::predicate<Pred&>
  bool put_if(K&& key, V&& value, std::chrono::duration<Rep, Period> ttl, Pred&& pred) {
    return store(std::forward<K>(key), std::forward<V>(value), checked_ttl(ttl), pred);
  }

  // A copy of the value when a fresh entry exists, else nullopt. Not a read, as contains: no
  // statistics, no policy update (for a caller's second look, such as loading_cache's check
  // that another load filled the key).
  [[nodiscard]] std::optional<Value> peek(const Key& key) const {
    const holder& h = segment_for(key);
    std::scoped_lock lock(h.mutex);
    if (const Value* v = h.segment.peek(key)) return std::optional<Value>(*v);
    return std::nullopt;
  }

  // Removes the key; returns whether a fresh entry was removed (listener: `erased`).
  bool erase(const Key& key) {
    bool removed = false;
    with_segment(key, [&](segment_type& s) { removed = s.erase(key); });
    return removed;
  }

  // Whether a fresh entry exists. Not a read: no statistics, no policy update.
  [[nodiscard]] bool contains(const Key& key) const {
    const holder& h = segment_for(key);
    std::scoped_lock lock(h.mutex);
    return h.segment.contains(key);
  }

  // Entries held, including expired ones not yet cleaned up.
  [[nodiscard]] std::size_t size() const {
    std::size_t total = 0;
    for (const auto& h : segments_) {
      std::scoped_lock lock(h->mutex);
      total += h->segment.size();
    }
    return total;
  }

  // Total weight held (== size() without a weigher).
  [[nodiscard]] std::uint64_t weight() const {
    std::uint64_t total = 0;
    for (const auto& h : segments_) {
      std::scoped_lock lock(h->mutex);
      total += h->segment.weight();
    }
    return total;
  }

  // The bound given at construction (entries, or total weight with a weigher).
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

  // Removes everything (listener: `erased`). Statistics are kept.
  void clear() {
    for (auto& h : segments_) {
      run(*h, [](segment_type& s) { s.clear(); });
    }
  }

  // Removes every expired entry now; returns how many. A full scan, for a maintenance thread.
  std::size_t remove_expired() {
    std::size_t removed = 0;
    for (auto& h : segments_) {
      run(*h, [&](segment_type& s) { removed += s.remove_expired(); });
    }
    return removed;
  }

  // A snapshot of the counters, summed over segments.
  [[nodiscard]] cache_stats stats() const {
    cache_stats total;
    for (const auto& h : segments_) {
      std::scoped_lock lock(h->mutex);
      const cache_stats& s = h->segment.stats();
      total.hits += s.hits;
      total.misses += s.misses;
      total.evictions += s.evictions;
      total.expirations += s.expirations;
      total.puts += s.puts;
    }
    return total;
  }

  void reset_stats() {
    for (auto& h : segments_) {
      std::scoped_lock lock(h->mutex);
      h->segment.reset_stats();
    }
  }

  // Runs f(const Eviction::state&) under the lock of each segment, for tests and diagnostics.
  template <class F>
  void inspect_policy(F&& f) const {
    for (const auto& h : segments_) {
      std::scoped_lock lock(h->mutex);
      f(h->segment.policy());
    }
  }

 private:
  static void check_duration(const char* name, const std::optional<std::chrono::nanoseconds>& d) {
    if (d && d->count() <= 0) {
      detail::throw_invalid_argument("scaling::cache", name, "must be > 0 ns", d->count());
    }
  }

  [[nodiscard]] holder& segment_for(const Key& key) const {
    if constexpr (segment_count == 1) {
      return *segments_.front();
    } else {
      constexpr int shift = 64 - std::countr_zero(segment_count);
      const std::uint64_t h = mix64(segment_type::hash_of(key));
      return *segments_[static_cast<std::size_t>(h >> shift)];
    }
  }

  static constexpr auto always = [] { return true; };

  template <class Rep, class Period>
  static std::int64_t checked_ttl(std::chrono::duration<Rep, Period> ttl) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(ttl);
    if (ns.count() <= 0) {
      detail::throw_invalid_argument("scaling::cache", "ttl", "must be > 0 ns", ns.count());
    }
    return ns.count();
  }

  // Converts the arguments to Key and Value first (if they are other types), so the segment
  // hashes, weighs and compares the stored types only. Writes when pred() holds under the
  // segment's lock; returns whether it wrote.
  template <class K, class V, class Pred>
  bool store(K&& key, V&& value, std::int64_t ttl_ns, Pred& pred) {
    if constexpr (!std::is_same_v<std::remove_cvref_t<K>, Key>) {
      return store(Key(std::forward<K>(key)), std::forward<V>(value), ttl_ns, pred);
    } else if constexpr (!std::is_same_v<std::remove_cvref_t<V>, Value>) {
      return store(std::forward<K>(key), Value(std::forward<V>(value)), ttl_ns, pred);
    } else {
      const Key& k = key;
      bool stored = false;
      with_segment(k, [&](segment_type& s) {
        if (!pred()) return;
        s.write(std::forward<K>(key), std::forward<V>(value), ttl_ns);
        stored = true;
      });
      return stored;
    }
  }

  template <class F>
  void with_segment(const Key& key, F&& f) {
    run(segment_for(key), std::forward<F>(f));
  }

  // Runs f on the segment under its lock, then tells the listener about removals with the
  // lock released (so a listener may call the cache).
  template <class F>
  void run(holder& h, F&& f) {
    std::vector<detail::removal<Key, Value>> removed;
    {
      std::scoped_lock lock(h.mutex);
      std::forward<F>(f)(h.segment);
      take_pending(h, removed);
    }
    notify(removed);
  }

  // Under the segment's lock: moves the removals the listener must hear about into `out`.
  static void take_pending(holder& h, std::vector<detail::removal<Key, Value>>& out) noexcept {
    if (h.segment.notifies() && !h.segment.pending().empty()) out.swap(h.segment.pending());
  }

  // With no lock held: tells the listener.
  void notify(const std::vector<detail::removal<Key, Value>>& removed) const {
    for (const auto& r : removed)
      options_->listener(r.key, r.value, r.cause);
  }

  std::unique_ptr<options> options_;
  std::size_t capacity_;
  // What the segments' policy states share (segments_share), declared before them so that it
  // outlives them.
  std::unique_ptr<typename detail::segment_shared<Eviction>::type> shared_policy_;
  std::vector<std::unique_ptr<holder>> segments_;
};

}  // namespace scaling
