// scaling/caching/s3fifo.hpp: the S3-FIFO eviction policy (`scaling::s3fifo`).
//
// What it is: three FIFO queues. New keys enter a small FIFO (10% of the capacity); a key
// that leaves it without a second use goes to a ghost FIFO that remembers only its hash; a
// key reused while in the small FIFO, or missed again while its hash is a ghost, goes to the
// main FIFO (90%). Each entry has a 2-bit frequency (capped at 3) that hits increment without
// moving anything; the main FIFO reinserts an entry whose frequency is non-zero, decremented.
// When to pick it: web/object workloads where most new keys are seen once ("one-hit
// wonders"): they never reach the main queue. Hits are a bit write, like FIFO. Weak on loops
// larger than the cache (use `w_tinylfu`).
// Reference: Yang et al., "FIFO queues are all you need for cache eviction", SOSP'23.
//
//   scaling::cache<std::string, blob, scaling::s3fifo> objects{50'000};
//
// Thread safety: as the cache that holds it. Complexity: O(1) amortised (each reinsertion in
// main consumed a hit's frequency).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <boost/unordered/unordered_flat_map.hpp>

#include <scaling/caching/detail/index_list.hpp>

namespace scaling {

struct s3fifo {
  class state {
   public:
    explicit state(std::size_t capacity)
        : small_target_(std::max<std::uint64_t>(1, capacity / 10)),
          ghost_capacity_(std::max<std::size_t>(1, capacity - capacity / 10)) {}

    void reserve(std::size_t slots) {
      links_.resize(slots);
      meta_.resize(slots);
    }
    void on_insert(detail::slot_index s, std::uint64_t hash, std::uint32_t w) {
      meta_[s] = {hash, w, 0, queue::none};
      if (forget_ghost(hash)) {
        main_.push_front(links_, s, w);
        meta_[s].where = queue::main;
      } else {
        small_.push_front(links_, s, w);
        meta_[s].where = queue::small;
      }
    }
    void on_hit(detail::slot_index s, std::uint64_t /*hash*/) noexcept {
      if (meta_[s].frequency < 3) ++meta_[s].frequency;
    }
    void on_miss(std::uint64_t /*hash*/) noexcept {}
    void on_update(detail::slot_index s, std::uint64_t hash, std::uint32_t old_w,
                   std::uint32_t new_w) noexcept {
      auto& list = meta_[s].where == queue::small ? small_ : main_;
      list.weight = list.weight - old_w + new_w;
      meta_[s].weight = new_w;
      on_hit(s, hash);
    }
    void on_remove(detail::slot_index s) noexcept {
      auto& list = meta_[s].where == queue::small ? small_ : main_;
      list.remove(links_, s, meta_[s].weight);
      meta_[s].where = queue::none;
    }
    [[nodiscard]] detail::slot_index evict(std::uint32_t /*incoming*/) {
      for (;;) {
        if (!small_.empty() && (small_.weight >= small_target_ || main_.empty())) {
          const detail::slot_index s = small_.tail;
          small_.remove(links_, s, meta_[s].weight);
          if (meta_[s].frequency > 1) {
            meta_[s].frequency = 0;
            meta_[s].where = queue::main;
            main_.push_front(links_, s, meta_[s].weight);
            continue;
          }
          remember_ghost(meta_[s].hash);
          meta_[s].where = queue::none;
          return s;
        }
        const detail::slot_index s = main_.tail;
        if (meta_[s].frequency > 0) {
          --meta_[s].frequency;
          main_.move_to_front(links_, s);
          continue;
        }
        main_.remove(links_, s, meta_[s].weight);
        meta_[s].where = queue::none;
        return s;
      }
    }
    void clear() noexcept {
      small_.reset();
      main_.reset();
      ghost_index_.clear();
      ghost_ring_.clear();
      ghost_seq_ = 0;
    }

   private:
    enum class queue : std::uint8_t { none, small, main };
    struct meta {
      std::uint64_t hash = 0;
      std::uint32_t weight = 0;
      std::uint8_t frequency = 0;
      queue where = queue::none;
    };

    // The ghost FIFO: a ring of hashes in insertion order, and for each hash the sequence
    // number of its latest insertion. A ring slot that is overwritten drops the index entry
    // only if the index still points at that slot, so a key evicted twice stays a ghost.
    void remember_ghost(std::uint64_t hash) {
      const std::uint64_t seq = ghost_seq_++;
      if (ghost_ring_.size() < ghost_capacity_) {
        ghost_ring_.push_back(hash);
      } else {
        const std::size_t at = static_cast<std::size_t>(seq % ghost_capacity_);
        const auto old = ghost_index_.find(ghost_ring_[at]);
        if (old != ghost_index_.end() && old->second == seq - ghost_capacity_) {
          ghost_index_.erase(old);
        }
        ghost_ring_[at] = hash;
      }
      ghost_index_[hash] = seq;
    }
    // True when the hash was a ghost; it stops being one (its key is resident again).
    bool forget_ghost(std::uint64_t hash) {
      const auto it = ghost_index_.find(hash);
      if (it == ghost_index_.end()) return false;
      ghost_index_.erase(it);
      return true;
    }

    detail::link_table links_;
    std::vector<meta> meta_;
    detail::index_list small_;
    detail::index_list main_;
    std::uint64_t small_target_;
    std::size_t ghost_capacity_;
    std::vector<std::uint64_t> ghost_ring_;
    std::uint64_t ghost_seq_ = 0;
    boost::unordered_flat_map<std::uint64_t, std::uint64_t> ghost_index_;
  };
};

}  // namespace scaling
