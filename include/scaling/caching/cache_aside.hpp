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
// When to pick: cache-aside when the application owns both the cache and the database calls;
// write-through when reads right after writes must hit and writes may be slower.
//
//   auto v = scaling::cache_aside_get(c, id, [&](int k) { return db.find(k); });
//   scaling::cache_aside_write(c, id, row, [&](int k, const row_t& r) { db.save(k, r); });
//
// Thread safety: as the cache; the source calls run without the cache's lock.
// Complexity: one or two cache operations plus the source call.
#pragma once

#include <concepts>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <utility>

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
