// scaling/caching/cache_aside.hpp: cache-aside and write-through functions over scaling::cache.
//
// What it is: the application-managed patterns as small functions and one wrapper:
//   - `cache_aside_get(cache, key, load)`: read the cache; on a miss call load(key) (returns
//     std::optional<Value>) and put what it found. No single-flight: concurrent misses each
//     load (use loading_cache where that matters).
//   - `cache_aside_write(cache, key, value, write, policy)`: write the source first, then
//     either invalidate the cached copy (`write_policy::invalidate`, the safe default: the next
//     read reloads) or update it (`write_policy::update`: no reload, but two concurrent writers
//     can leave the cache holding the older value).
//   - `write_through<Cache, Writer>`: every put writes the source, then the cache; a failed
//     source write leaves the cache without the key (never newer than the source).
// The stale-set race: a reader misses and loads the old row (a slow query, or a replica that
// lags), a writer commits and invalidates, then the reader puts the old row, which stays for
// the whole TTL; the next miss may also reload the old row from a lagging replica. The
// overloads that take an `invalidation_leases` table (invalidation.hpp) close both halves:
// `cache_aside_get(cache, leases, key, load)` installs its value only if no invalidation of
// the key came after its load started (its caller still gets the value), and
// `cache_aside_write(cache, leases, ...)` / `cache_aside_invalidate(cache, leases, key,
// position)` void the loads in flight and pass the writer's commit position to the next load
// (a load taking a `load_context` reads at `min_position` or later). The overloads without
// leases keep the race: use them only where a stale value for a TTL is acceptable.
// When to pick: cache-aside when the application owns both the cache and the database calls;
// write-through when reads right after writes must hit and writes may be slower.
//
//   auto v = scaling::cache_aside_get(c, id, [&](int k) { return db.find(k); });
//   scaling::cache_aside_write(c, id, row, [&](int k, const row_t& r) { db.save(k, r); });
//   scaling::invalidation_leases<int> leases;  // beside the cache, shared by its users
//   auto w = scaling::cache_aside_get(c, leases, id, [&](int k, const scaling::load_context& x) {
//     return db.find(k, x.min_position);
//   });
//   scaling::cache_aside_write(c, leases, id, row, [&](int k, const row_t& r) {
//     return db.save(k, r);  // its commit position (std::uint64_t), or void
//   });
//
// Thread safety: as the cache; the source calls run without the cache's lock.
// Complexity: one or two cache operations plus the source call.
#pragma once

#include <concepts>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <utility>

#include <scaling/caching/invalidation.hpp>

namespace scaling {

enum class write_policy : std::uint8_t { invalidate, update };

// Reads key from c; on a miss, loads it with load(key) and caches what was found.
// Throws what load throws (nothing is cached then).
template <class Cache, class Load>
requires std::convertible_to<std::invoke_result_t<Load&, const typename Cache::key_type&>,
                             std::optional<typename Cache::mapped_type>>
    std::optional<typename Cache::mapped_type> cache_aside_get(Cache& c,
                                                               const typename Cache::key_type& key,
                                                               Load&& load) {
  if (auto hit = c.get(key)) return hit;
  std::optional<typename Cache::mapped_type> loaded = load(key);
  if (loaded) c.put(key, *loaded);
  return loaded;
}

// Writes value to the source with write(key, value), then invalidates or updates the cached
// copy. If write throws, the cached copy is dropped (it may no longer match) and the
// exception propagates.
template <class Cache, class Write>
requires std::invocable<Write&, const typename Cache::key_type&, const typename Cache::mapped_type&>
void cache_aside_write(Cache& c, const typename Cache::key_type& key,
                       const typename Cache::mapped_type& value, Write&& write,
                       write_policy policy = write_policy::invalidate) {
  try {
    write(key, value);
  } catch (...) {
    c.erase(key);
    throw;
  }
  if (policy == write_policy::update) {
    c.put(key, value);
  } else {
    c.erase(key);
  }
}

// Reads key from c; on a miss, loads it under a lease from `leases` and caches what was found
// only if no invalidation of key (through the same leases) happened since the load started;
// the value is returned either way.
// Template parameters: Load, a loader_for (load(key) or load(key, load_context); the context
// carries the commit position of the last invalidation no cached load has read yet).
// Throws what load throws (nothing is cached then), and std::bad_alloc from the lease table.
// Thread safety: c and leases as their types say; the lease check runs under c's lock
// (cache::put_if).
template <class Cache, class Hash, class Mutex, class Load>
requires loader_for<Load, typename Cache::key_type, std::optional<typename Cache::mapped_type>>
    std::optional<typename Cache::mapped_type> cache_aside_get(
        Cache& c, invalidation_leases<typename Cache::key_type, Hash, Mutex>& leases,
        const typename Cache::key_type& key, Load&& load) {
  using result = std::optional<typename Cache::mapped_type>;
  if (auto hit = c.get(key)) return hit;
  const invalidation_lease lease = leases.acquire(key);
  load_outcome outcome = load_outcome::not_cached;
  try {
    result loaded =
        detail::call_loader<result>(load, key, load_context{.min_position = lease.min_position});
    if (loaded && c.put_if(key, *loaded, [&] { return leases.valid(key, lease); })) {
      outcome = load_outcome::cached;
    }
    leases.release(key, lease, outcome);
    return loaded;
  } catch (...) {
    leases.release(key, lease, load_outcome::not_cached);
    throw;
  }
}

// Voids the loads of key in flight (they will not cache what they read) and drops the cached
// copy; with min_position > 0 (the writer's commit position) the key's next loads are told to
// read at or after it. Call it after the source write has committed.
// Throws std::bad_alloc from the lease table (nothing invalidated).
template <class Cache, class Hash, class Mutex>
void cache_aside_invalidate(Cache& c,
                            invalidation_leases<typename Cache::key_type, Hash, Mutex>& leases,
                            const typename Cache::key_type& key, std::uint64_t min_position = 0) {
  leases.invalidate(key, min_position);
  c.erase(key);
}

// As cache_aside_write, also voiding the key's loads in flight, so none of them caches the
// value it read before this write. When write returns its commit position (a std::uint64_t,
// as a replication log position), the key's next loads are told to read at or after it
// (write_policy::invalidate; an update leaves the new value cached, so no load needs it).
template <class Cache, class Hash, class Mutex, class Write>
requires std::invocable<Write&, const typename Cache::key_type&, const typename Cache::mapped_type&>
void cache_aside_write(Cache& c, invalidation_leases<typename Cache::key_type, Hash, Mutex>& leases,
                       const typename Cache::key_type& key,
                       const typename Cache::mapped_type& value, Write&& write,
                       write_policy policy = write_policy::invalidate) {
  using written = std::invoke_result_t<Write&, const typename Cache::key_type&,
                                       const typename Cache::mapped_type&>;
  std::uint64_t position = 0;
  try {
    if constexpr (std::same_as<std::remove_cvref_t<written>, std::uint64_t>) {
      position = write(key, value);
    } else {
      write(key, value);
    }
  } catch (...) {
    cache_aside_invalidate(c, leases, key);  // the write may have happened
    throw;
  }
  if (policy == write_policy::update) {
    leases.invalidate(key);
    c.put(key, value);
  } else {
    cache_aside_invalidate(c, leases, key, position);
  }
}

// A cache whose puts go to the source first (write-through).
//
// Template parameters: Cache, a scaling::cache; Writer, callable as
// writer(const Key&, const Value&) (throws on failure).
template <class Cache, class Writer>
requires std::invocable<Writer&, const typename Cache::key_type&,
                        const typename Cache::mapped_type&>
class write_through {
 public:
  using key_type = typename Cache::key_type;
  using mapped_type = typename Cache::mapped_type;

  write_through(Cache& c, Writer writer) : cache_(&c), writer_(std::move(writer)) {}

  // Writes the source, then the cache. If the source write throws, the key is dropped from the
  // cache and the exception propagates.
  void put(const key_type& key, const mapped_type& value) {
    cache_aside_write(*cache_, key, value, writer_, write_policy::update);
  }
  [[nodiscard]] std::optional<mapped_type> get(const key_type& key) { return cache_->get(key); }
  bool erase(const key_type& key) { return cache_->erase(key); }

 private:
  Cache* cache_;
  [[no_unique_address]] Writer writer_;
};

}  // namespace scaling
