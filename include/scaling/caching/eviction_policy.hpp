// scaling/caching/eviction_policy.hpp: the concept every eviction policy tag satisfies.
//
// What it is: an eviction policy is a tag type (`scaling::lru`, `scaling::sieve`, ...) with a
// nested `state` class that orders a cache segment's slots and picks the victim when the
// segment is full. The cache owns keys, values, expiry and weights; the policy only sees slot
// indices, key hashes and weights, so one policy serves every key and value type.
//
// When to write one: to try an algorithm on the replay lab (`cache_replay`) and in a real
// cache with the same code. Pick an existing tag otherwise (see
// docs/patterns/application-caching.md).
//
//   struct my_policy {
//     class state {  // see the requirements below
//      public: explicit state(std::size_t capacity); ...
//     };
//   };
//   scaling::cache<int, int, my_policy> c{1000};
//
// Thread safety: a state is used by one segment under that segment's lock (or by one thread).
// Complexity: every call is expected to be O(1) amortised.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>

#include <scaling/caching/detail/index_list.hpp>

namespace scaling {

// An eviction policy tag P:
//   - names a nested class `P::state`, constructible from the segment capacity (in weight
//     units; 1 per entry without a weigher);
//   - `reserve(n)`: slots [0, n) may be used from now on (the cache grows its slot table);
//   - `on_insert(slot, hash, weight)`: a new entry entered the segment;
//   - `on_hit(slot, hash)`: a read found the entry;
//   - `on_miss(hash)`: a read found nothing (frequency-based policies count it);
//   - `on_update(slot, hash, old_weight, new_weight)`: the value of a resident entry changed;
//   - `on_remove(slot)`: the cache removed the entry itself (erase, expiry): forget it;
//   - `evict(incoming_weight)`: choose a victim among the resident slots, forget it and return
//     it; called only while the segment holds at least one entry, before an insertion of
//     `incoming_weight` (0 when the segment shrinks after an update);
//   - `clear()`: forget every slot.
// Optionally, a tag whose segments of one cache share what they learn names `P::shared`
// (default-constructible) and gives its state `attach(shared&, segment_index)`: the cache makes
// one `P::shared` and attaches every segment's state to it, in order from index 0, before any
// other call (`segments_share<P>` below). `adaptive` uses it: the keys of a sharded cache are
// spread over its segments by hash, so one segment's traffic is a sample of the whole, and
// segment 0's simulations choose the leader for every segment.
template <class P>
concept eviction_policy = std::constructible_from<typename P::state, std::size_t> &&
    requires(typename P::state& state, detail::slot_index slot, std::uint64_t hash,
             std::uint32_t weight, std::size_t slots) {
  state.reserve(slots);
  state.on_insert(slot, hash, weight);
  state.on_hit(slot, hash);
  state.on_miss(hash);
  state.on_update(slot, hash, weight, weight);
  state.on_remove(slot);
  { state.evict(weight) } -> std::same_as<detail::slot_index>;
  state.clear();
};

// Whether P's segments share state (see above); the cache attaches them when it does.
template <class P>
concept segments_share = eviction_policy<P> && std::default_initializable<typename P::shared> &&
    requires(typename P::state& state, typename P::shared& shared, std::size_t index) {
  state.attach(shared, index);
};

}  // namespace scaling
