// scaling/caching/lfu.hpp: least-frequently-used eviction in O(1) (`scaling::lfu`).
//
// What it is: entries are grouped by access count in a list of frequency buckets (ascending);
// a hit moves the entry to the next bucket (creating it when absent), the victim is the least
// recently used entry of the lowest bucket. Counts never decay.
// When to pick it: stable popularity (catalogues, configuration, reference data). Avoid it
// where popularity shifts: old favourites never leave (use `w_tinylfu`, whose counts age).
// Reference: Shah, Mitra, Matani, "An O(1) algorithm for implementing the LFU cache eviction
// scheme" (2010).
//
//   scaling::cache<int, product, scaling::lfu> catalogue{5000};
//
// A hit is recorded in a read buffer and applied with the next 32, their list links prefetched
// first (see detail/read_buffer.hpp); every other call applies pending hits at once, so the
// order of events, and every eviction, is exactly as unbuffered.
//
// Thread safety: as the cache that holds it. Complexity: O(1) amortised per call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <scaling/caching/detail/index_list.hpp>
#include <scaling/caching/detail/read_buffer.hpp>

namespace scaling {

struct lfu {
  class state {
   public:
    explicit state(std::size_t /*capacity*/) {}
    void reserve(std::size_t slots) {
      links_.resize(slots);
      bucket_of_.resize(slots, no_bucket);
    }
    void on_insert(detail::slot_index s, std::uint64_t /*hash*/, std::uint32_t /*w*/) {
      drain_reads();
      // A newcomer has been used once: bucket 1, which is the lowest if it exists.
      std::uint32_t b = lowest_;
      if (b == no_bucket || buckets_[b].frequency != 1) b = new_bucket(1, no_bucket, lowest_);
      buckets_[b].items.push_front(links_, s);
      bucket_of_[s] = b;
    }
    // A hit is recorded and applied with the next batch of reads (or before any other call),
    // so the order of events, and every eviction, is as if it were applied now.
    void on_hit(detail::slot_index s, std::uint64_t /*hash*/) {
      if (reads_.push(s)) drain_reads();
    }
    void on_miss(std::uint64_t /*hash*/) noexcept {}
    void on_update(detail::slot_index s, std::uint64_t /*hash*/, std::uint32_t /*old_w*/,
                   std::uint32_t /*new_w*/) {
      drain_reads();
      apply_hit(s);
    }
    void on_remove(detail::slot_index s) {
      drain_reads();
      forget(s);
    }
    [[nodiscard]] detail::slot_index evict(std::uint32_t /*incoming*/) {
      drain_reads();
      const detail::slot_index victim = buckets_[lowest_].items.tail;
      forget(victim);
      return victim;
    }
    void clear() noexcept {
      reads_.clear();
      buckets_.clear();
      free_.clear();
      lowest_ = no_bucket;
    }

    // Applies the hits recorded so far (every other call does it first).
    void drain_reads() {
      if (reads_.empty()) return;
      reads_.drain(
          [this](detail::slot_index s) {
            detail::prefetch_for_write(&links_[s]);
            detail::prefetch_for_write(&bucket_of_[s]);
          },
          [this](detail::slot_index s) {
            const auto [prev, next] = links_[s];
            if (prev != detail::no_slot) detail::prefetch_for_write(&links_[prev]);
            if (next != detail::no_slot) detail::prefetch_for_write(&links_[next]);
          },
          [this](detail::slot_index s) { apply_hit(s); });
    }

    // The access count the policy holds for a resident slot, counting the hits applied so far
    // (up to read_batch - 1 of the latest may wait in the read buffer). For tests and
    // diagnostics.
    [[nodiscard]] std::uint64_t frequency(detail::slot_index s) const noexcept {
      return buckets_[bucket_of_[s]].frequency;
    }

   private:
    static constexpr std::uint32_t no_bucket = ~std::uint32_t{0};
    // Hits applied per batch (see read_buffer.hpp).
    static constexpr std::size_t read_batch = 32;

    void apply_hit(detail::slot_index s) {
      const std::uint32_t from = bucket_of_[s];
      const std::uint64_t next_frequency = buckets_[from].frequency + 1;
      std::uint32_t to = buckets_[from].next;
      if (to == no_bucket || buckets_[to].frequency != next_frequency) {
        to = new_bucket(next_frequency, from, to);
      }
      buckets_[from].items.remove(links_, s);
      buckets_[to].items.push_front(links_, s);
      bucket_of_[s] = to;
      if (buckets_[from].items.empty()) free_bucket(from);
    }
    void forget(detail::slot_index s) noexcept {
      const std::uint32_t b = bucket_of_[s];
      buckets_[b].items.remove(links_, s);
      bucket_of_[s] = no_bucket;
      if (buckets_[b].items.empty()) free_bucket(b);
    }

    struct bucket {
      std::uint64_t frequency = 0;
      std::uint32_t prev = no_bucket;
      std::uint32_t next = no_bucket;
      detail::index_list items;
    };

    std::uint32_t new_bucket(std::uint64_t frequency, std::uint32_t prev, std::uint32_t next) {
      std::uint32_t b = 0;
      if (!free_.empty()) {
        b = free_.back();
        free_.pop_back();
      } else {
        b = static_cast<std::uint32_t>(buckets_.size());
        buckets_.emplace_back();
        free_.reserve(buckets_.capacity());  // so free_bucket() never allocates
      }
      buckets_[b] = bucket{frequency, prev, next, {}};
      if (prev != no_bucket) {
        buckets_[prev].next = b;
      } else {
        lowest_ = b;
      }
      if (next != no_bucket) buckets_[next].prev = b;
      return b;
    }
    void free_bucket(std::uint32_t b) noexcept {
      const std::uint32_t prev = buckets_[b].prev;
      const std::uint32_t next = buckets_[b].next;
      if (prev != no_bucket) {
        buckets_[prev].next = next;
      } else {
        lowest_ = next;
      }
      if (next != no_bucket) buckets_[next].prev = prev;
      free_.push_back(b);
    }

    detail::link_table links_;
    std::vector<std::uint32_t> bucket_of_;
    std::vector<bucket> buckets_;
    std::vector<std::uint32_t> free_;
    std::uint32_t lowest_ = no_bucket;
    detail::read_buffer<read_batch> reads_;
  };
};

}  // namespace scaling
