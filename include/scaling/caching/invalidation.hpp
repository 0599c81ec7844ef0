// scaling/caching/invalidation.hpp: invalidation leases, so a load that started before an
// invalidation cannot install its value after it.
//
// What it is: `scaling::invalidation_leases<Key>`, a per-key generation table in the spirit of
// memcache's leases ("Scaling Memcache at Facebook", NSDI'13). A load takes a lease
// (`acquire(key)`) before it reads the source; a writer's `invalidate(key)` after its write
// bumps the key's generation, which voids every lease taken before it; the loader installs its
// value only if its lease is still `valid` (checked under the cache's lock, with
// `cache::put_if`). So the classic stale set cannot happen: reader misses, reads the old value
// (a slow load, or a replica that lags), writer writes and invalidates, reader stores the old
// value for a whole TTL. The reader that started the load still gets its value; it is only
// not cached.
// A writer may also pass its commit position (a replication log position, a plain
// std::uint64_t here): `invalidate(key, position)` remembers it for the key, and the next
// leases for that key carry it as `min_position`, so the reload can read from a replica that
// has applied the write instead of one that lags. The position is kept until a load that was
// given it has its result cached (`release(key, lease, load_outcome::cached)`): a load that
// was voided, failed, or found nothing to keep leaves it for the next one.
// When to pick it: directly, in front of your own cache-aside code (`cache_aside_get` and
// `cache_aside_invalidate` take one); `loading_cache` has one inside.
//
//   scaling::invalidation_leases<int> leases;
//   auto lease = leases.acquire(id);                       // reader, on a miss
//   row r = db.read(id, lease.min_position);
//   cache.put_if(id, r, [&] { return leases.valid(id, lease); });
//   leases.release(id, lease, scaling::load_outcome::cached);
//   leases.invalidate(id, commit.position);                // writer, after its write
//   cache.erase(id);
//
// Thread safety: every member may be called from any thread (one internal lock; keep Mutex =
// std::mutex unless one thread owns the table). Complexity: O(1) expected per call; memory:
// one record per key with a load in flight or a position not yet read, at most
// `max_remembered` idle records (beyond that their positions fold into one floor that every
// lease then carries: stricter, never weaker).
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <type_traits>
#include <unordered_map>

#include <scaling/core/error.hpp>

namespace scaling {

// What a loader is told besides the key (loaders that take only the key are told nothing).
struct load_context {
  // The source position the load must read at or after (a replication log position, as
  // scaling::read_options::min_position); 0: any replica will do.
  std::uint64_t min_position = 0;
};

// A loader for keys of type Key producing Result: called with the key, or with the key and a
// load_context (a loader that takes the context is given it).
template <class L, class Key, class Result>
concept loader_for =
    std::convertible_to<std::invoke_result_t<L&, const Key&, const load_context&>, Result> ||
    std::convertible_to<std::invoke_result_t<L&, const Key&>, Result>;

namespace detail {
// Calls a loader_for with the context when it takes one, else with the key alone.
template <class Result, class L, class Key>
Result call_loader(L& loader, const Key& key, const load_context& context) {
  if constexpr (std::is_invocable_v<L&, const Key&, const load_context&>) {
    return loader(key, context);
  } else {
    return loader(key);
  }
}
}  // namespace detail

// How a load that held a lease ended.
enum class load_outcome : std::uint8_t {
  cached,      // its result (a value, or a remembered "not found") was installed in the cache
  not_cached,  // it threw, was voided by an invalidation, or had nothing the cache keeps
};

// The right to install one load's result: the key's generation when the load started, and the
// position it must read at.
struct invalidation_lease {
  std::uint64_t generation = 0;
  std::uint64_t min_position = 0;
};

// See the banner at the top of this header.
//
// Template parameters: Key, copyable and hashable by Hash; Mutex, a lock (std::mutex, or a
// lock that does nothing when one thread owns the table).
template <class Key, class Hash = std::hash<Key>, class Mutex = std::mutex>
class invalidation_leases {
 public:
  // max_remembered: how many records the table holds before the idle ones (keys with a
  // remembered position and no load in flight) fold their positions into one floor.
  // Throws scaling::invalid_argument if max_remembered is 0.
  explicit invalidation_leases(std::size_t max_remembered = 4096)
      : max_remembered_(max_remembered) {
    if (max_remembered == 0) {
      detail::throw_invalid_argument("scaling::invalidation_leases", "max_remembered",
                                     "must be >= 1", max_remembered);
    }
  }

  invalidation_leases(const invalidation_leases&) = delete;
  invalidation_leases& operator=(const invalidation_leases&) = delete;

  // Starts a load of key: returns its lease, carrying the position the load must read at.
  // Every acquire must be matched by one release. Throws std::bad_alloc (nothing changed).
  [[nodiscard]] invalidation_lease acquire(const Key& key) {
    std::scoped_lock lock(mutex_);
    record& r = records_[key];
    ++r.holders;
    return {r.generation, std::max(r.min_position, floor_)};
  }

  // Whether no invalidate(key) has happened since `lease` was acquired: the load holding it
  // may install its value. Call it where the install happens, under the cache's lock
  // (cache::put_if), so no invalidation falls between the check and the write.
  // Precondition: lease came from acquire(key) and has not been released.
  [[nodiscard]] bool valid(const Key& key, const invalidation_lease& lease) const {
    std::scoped_lock lock(mutex_);
    const auto it = records_.find(key);
    return it != records_.end() && it->second.generation == lease.generation;
  }

  // Ends the load holding `lease`. A load whose result was cached read at its min_position or
  // later, so a remembered position no newer than that is forgotten. Never throws.
  void release(const Key& key, const invalidation_lease& lease, load_outcome outcome) noexcept {
    std::scoped_lock lock(mutex_);
    const auto it = records_.find(key);
    if (it == records_.end()) return;
    record& r = it->second;
    if (r.holders > 0) --r.holders;
    if (outcome == load_outcome::cached && r.min_position <= lease.min_position) {
      r.min_position = 0;
    }
    if (r.holders == 0 && r.min_position == 0) records_.erase(it);
  }

  // Voids every lease of key acquired so far; with min_position > 0, the key's next loads are
  // told to read at or after it (the larger of the positions given, until a load succeeds).
  // Call it after the source write and before (or while) dropping the cached copy.
  // Throws std::bad_alloc only when min_position > 0 and the key was unknown (nothing changed).
  void invalidate(const Key& key, std::uint64_t min_position = 0) {
    std::scoped_lock lock(mutex_);
    auto it = records_.find(key);
    if (it == records_.end()) {
      if (min_position == 0) return;  // no load in flight, nothing to remember
      it = records_.try_emplace(key).first;
    }
    ++it->second.generation;
    it->second.min_position = std::max(it->second.min_position, min_position);
    if (records_.size() > max_remembered_) fold();
  }

  // Keys with a load in flight or a remembered position.
  [[nodiscard]] std::size_t size() const {
    std::scoped_lock lock(mutex_);
    return records_.size();
  }
  // The position every lease carries at least, once remembered positions were folded.
  [[nodiscard]] std::uint64_t floor() const {
    std::scoped_lock lock(mutex_);
    return floor_;
  }

 private:
  struct record {
    std::uint64_t generation = 0;
    std::uint64_t min_position = 0;
    std::uint32_t holders = 0;
  };

  // Drops every idle record, keeping its position in the floor: any later load then reads at
  // least that recent a copy, which is what each of them asked for, and more.
  void fold() noexcept {
    for (auto it = records_.begin(); it != records_.end();) {
      if (it->second.holders == 0) {
        floor_ = std::max(floor_, it->second.min_position);
        it = records_.erase(it);
      } else {
        ++it;
      }
    }
  }

  std::size_t max_remembered_;
  mutable Mutex mutex_;
  std::unordered_map<Key, record, Hash> records_;
  std::uint64_t floor_ = 0;
};

}  // namespace scaling
