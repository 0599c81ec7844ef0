// scaling/architecture/read_through.hpp: the cache-aside read path, with invalidation that
// cannot be undone by a slow or stale load.
//
// What it is: `read_through<Key, Value, Cache, Source>` answers a read from the cache tier
// when it can, otherwise from the source of truth, and fills the cache with what the source
// returned. The writer calls `invalidate(key, position)` once its write is acknowledged. Two
// races make a naive cache-aside serve stale data for a whole TTL, and both are closed here:
//   1. A load that started before the write finishes after the invalidation and stores the old
//      value. Each key maps to a generation (a striped table of counters); invalidate bumps it,
//      and a load stores its value only if the generation is the one it started under (the
//      reader still gets its answer; it is simply not cached). This is memcache's lease at
//      Facebook, in process.
//   2. The next miss reads a replica that has not applied the write yet, and caches the old
//      version. invalidate records the write's commit position for the key's stripe, and
//      later loads ask the source for a copy that has applied it (read-your-writes for every
//      reader of that key, not only the writer).
// Stripes are shared by keys that hash alike: a write to one key makes the loads of its
// stripe-mates skip one fill or demand a slightly newer copy, never serve older data.
//
// When to pick it: in front of any source of truth with a cache tier (stage 2 of the seed's
// progression). In process with inline_serving adapters; in the lab with station_serving.
//
//   scaling::cache<std::uint64_t, profile> cache{10'000};
//   scaling::architecture::store_reads reads{store, db_serving};           // replicas
//   scaling::architecture::read_through<std::uint64_t, profile, decltype(cache), decltype(reads)>
//       profiles{cache, reads};
//   profiles.async_get(42, [](scaling::architecture::reply<profile> r) { /* r.value */ });
//   // writer: after store.put(...) is acknowledged at position p:
//   profiles.invalidate(42, p);
//
// Thread safety: as safe as the cache and the source it is given; its own state is atomics.
// Complexity: one cache lookup per read; one source read and one cache fill per miss; O(1)
// invalidate. Memory: two 64-bit counters per stripe (default 4096 stripes).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

#include "scaling/architecture/roles.hpp"
#include "scaling/core/error.hpp"
#include "scaling/core/hash.hpp"
#include "scaling/core/stats.hpp"

namespace scaling::architecture {

struct read_through_options {
  // Stripes of the generation and position tables: a power of two.
  std::size_t stripes = 4096;
};

struct read_through_stats {
  std::uint64_t reads = 0;
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t fills = 0;
  std::uint64_t fills_skipped = 0;  // loads that finished after an invalidation of their stripe
  std::uint64_t failures = 0;       // source replies that were neither ok nor not_found
  std::uint64_t invalidations = 0;
  [[nodiscard]] double hit_ratio() const noexcept { return ratio(hits, reads); }
};

// Tier numbers in reply::tier: 1 is this cache; the source reports its own (2 and up).
inline constexpr std::uint8_t cache_tier = 1;

template <class Key, class Value, read_cache<Key, Value> Cache,
          async_read_source<Key, Value> Source, hasher_for<Key> Hash = scaling::hash<>>
class read_through {
 public:
  using key_type = Key;
  using value_type = Value;

  // Throws: scaling::invalid_argument if options.stripes is not a power of two >= 1.
  read_through(Cache& cache, Source& source, read_through_options options = {}, Hash hash = Hash{})
      : cache_(&cache),
        source_(&source),
        hash_(std::move(hash)),
        mask_(checked_stripes(options.stripes) - 1),
        stripes_(std::make_unique<stripe[]>(options.stripes)) {}

  read_through(const read_through&) = delete;
  read_through& operator=(const read_through&) = delete;

  // Reads `key`: a hit answers inside the call (tier cache_tier); a miss asks the source, for
  // a copy at least as new as the last invalidation of the key's stripe, then fills the cache
  // unless the stripe was invalidated meanwhile. `done` is called exactly once.
  void async_get(const Key& key, read_handler<Value> done) {
    reads_.add();
    if (std::optional<Value> hit = cache_->get(key)) {
      hits_.add();
      done(reply<Value>{reply_status::ok, std::move(hit), cache_tier});
      return;
    }
    misses_.add();
    stripe& s = stripe_of(key);
    const std::uint64_t generation = s.generation.load(std::memory_order_acquire);
    const std::uint64_t min_position = s.position.load(std::memory_order_acquire);
    source_->async_read(
        key, min_position,
        [this, key, generation, &s, done = std::move(done)](reply<Value> r) mutable {
          if (r.status == reply_status::ok) {
            if (s.generation.load(std::memory_order_acquire) == generation) {
              cache_->put(key, *r.value);
              fills_.add();
            } else {
              fills_skipped_.add();
            }
          } else if (r.status == reply_status::failed) {
            failures_.add();
          }
          done(std::move(r));
        });
  }

  // The write to `key` committed at `position` (0 if the store has no positions): drops the
  // cached copy, stops loads already in flight from filling it, and makes later loads read a
  // copy that applied `position`. Call it after the write is acknowledged.
  void invalidate(const Key& key, std::uint64_t position = 0) {
    stripe& s = stripe_of(key);
    s.generation.fetch_add(1, std::memory_order_acq_rel);
    std::uint64_t seen = s.position.load(std::memory_order_relaxed);
    while (seen < position &&
           !s.position.compare_exchange_weak(seen, position, std::memory_order_acq_rel)) {
    }
    cache_->erase(key);
    invalidations_.add();
  }

  [[nodiscard]] read_through_stats stats() const noexcept {
    return {reads_.load(),         hits_.load(),     misses_.load(),       fills_.load(),
            fills_skipped_.load(), failures_.load(), invalidations_.load()};
  }

  [[nodiscard]] Cache& cache() noexcept { return *cache_; }
  [[nodiscard]] Source& source() noexcept { return *source_; }

 private:
  struct stripe {
    std::atomic<std::uint64_t> generation{0};
    std::atomic<std::uint64_t> position{0};
  };

  static std::size_t checked_stripes(std::size_t n) {
    if (n == 0 || (n & (n - 1)) != 0)
      scaling::detail::throw_invalid_argument("scaling::architecture::read_through", "stripes",
                                              "must be a power of two >= 1", n);
    return n;
  }
  stripe& stripe_of(const Key& key) noexcept {
    return stripes_[static_cast<std::size_t>(hash_(key)) & mask_];
  }

  Cache* cache_;
  Source* source_;
  [[no_unique_address]] Hash hash_;
  std::size_t mask_;
  std::unique_ptr<stripe[]> stripes_;
  relaxed_counter reads_, hits_, misses_, fills_, fills_skipped_, failures_, invalidations_;
};

}  // namespace scaling::architecture
