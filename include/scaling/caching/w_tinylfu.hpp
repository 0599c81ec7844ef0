// scaling/caching/w_tinylfu.hpp: Window TinyLFU with an adaptive window (`scaling::w_tinylfu`).
//
// What it is: Caffeine's design. New entries enter a small LRU window (1% of the capacity
// at first); the rest is a segmented LRU main area (80% protected, 20% probation). When the
// window overflows, its oldest entry becomes a candidate for main and must beat main's victim
// (the oldest probation entry) on estimated frequency, from a `frequency_sketch` that counts
// every access and ages. A hill climber samples the hit ratio every 10 x capacity requests
// and moves capacity between window and main: recency-heavy workloads grow the window,
// frequency-heavy ones shrink it.
// When to pick it: the best general-purpose policy when the workload is unknown or mixed;
// resists scans and loops (a key seen once rarely displaces a popular one). 8-16 bytes of
// sketch per entry (a 64-bit word per entry, rounded up to a power of two).
// The read path, after Caffeine's: a hit is recorded in a read buffer and applied with the
// next 32 (their links prefetched first; any other call applies them at once, so the order
// of events is exact), and it counts in a byte of the entry's own metadata rather than in the
// sketch: the count joins the sketch when the entry leaves, and every entry's just before the
// sketch halves; admission adds it to the estimate of the two resident entries it compares.
// So a hit touches no sketch block and hashes nothing (`hit_needs_hash = false`); misses and
// insertions still count in the sketch at once.
// Reference: Einziger, Friedman, Manes, "TinyLFU" (ACM ToS 2017); Caffeine 3 (Ben Manes):
// window 1%, protected 80%, admit on frequency > victim's, or with probability 1/128 when the
// candidate's frequency is >= 6 (so crafted collisions cannot lock an attacker's key out);
// hill climbing with a 6.25% step decaying by 0.98, restarted on a 5-point hit-ratio change.
//
//   scaling::cache<std::string, profile, scaling::w_tinylfu> profiles{100'000};
//
// Thread safety: as the cache that holds it. Complexity: O(1) amortised per call; a window
// adjustment moves at most one step's worth of entries, once per sample period.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <scaling/caching/detail/index_list.hpp>
#include <scaling/caching/detail/read_buffer.hpp>
#include <scaling/caching/frequency_sketch.hpp>
#include <scaling/core/hash.hpp>

namespace scaling {

struct w_tinylfu {
  // on_hit ignores the hash (an entry's hash is kept from its insertion): the cache skips it.
  static constexpr bool hit_needs_hash = false;

  class state {
   public:
    explicit state(std::size_t capacity)
        : capacity_(std::max<std::uint64_t>(1, capacity)),
          sketch_(capacity),
          window_max_(capacity_ -
                      static_cast<std::uint64_t>(0.99 * static_cast<double>(capacity_))),
          protected_max_(
              static_cast<std::uint64_t>(0.8 * static_cast<double>(capacity_ - window_max_))),
          step_(-0.0625 * static_cast<double>(capacity_)) {}

    void reserve(std::size_t slots) {
      links_.resize(slots);
      meta_.resize(slots);
    }

    void on_insert(detail::slot_index s, std::uint64_t hash, std::uint32_t w) {
      drain_reads();
      if (hash != last_miss_hash_ || !last_miss_valid_) sketch_.increment(hash);
      last_miss_valid_ = false;
      meta_[s] = {hash, w, region::window};
      window_.push_front(links_, s, w);
      // evict() made room in the window when the segment was full; with weights, or while the
      // segment fills up, the window's overflow moves to probation without a duel.
      while (window_.weight > window_max_ && window_.count > 1) {
        move(window_.tail, window_, probation_, region::probation);
      }
    }

    // A hit is recorded and applied with the next batch of reads (or before any other call),
    // so the policy sees the same sequence of events as if it were applied now.
    void on_hit(detail::slot_index s, std::uint64_t /*hash*/) {
      if (reads_.push(s)) drain_reads();
    }

    void on_miss(std::uint64_t hash) {
      drain_reads();
      sketch_.increment(hash);
      last_miss_hash_ = hash;
      last_miss_valid_ = true;
      ++sample_misses_;
      climb();
    }

    void on_update(detail::slot_index s, std::uint64_t /*hash*/, std::uint32_t old_w,
                   std::uint32_t new_w) {
      drain_reads();
      list_of(meta_[s].where).weight += static_cast<std::uint64_t>(new_w) - old_w;
      meta_[s].weight = new_w;
      apply_hit(s);
    }

    void on_remove(detail::slot_index s) {
      drain_reads();
      list_of(meta_[s].where).remove(links_, s, meta_[s].weight);
      settle(s);
    }

    [[nodiscard]] detail::slot_index evict(std::uint32_t incoming) {
      drain_reads();
      // The newcomer will push the window's oldest entry out: that entry is the candidate for
      // main, and must beat main's victim (the oldest in probation) to be admitted.
      if (!window_.empty() && window_.weight + incoming > window_max_) {
        const detail::slot_index candidate = window_.tail;
        const detail::slot_index victim = !probation_.empty() ? probation_.tail : protected_.tail;
        if (victim == detail::no_slot) {
          window_.remove(links_, candidate, meta_[candidate].weight);
          settle(candidate);
          return candidate;
        }
        if (admit(candidate, victim)) {
          list_of(meta_[victim].where).remove(links_, victim, meta_[victim].weight);
          settle(victim);
          move(candidate, window_, probation_, region::probation);
          return victim;
        }
        window_.remove(links_, candidate, meta_[candidate].weight);
        settle(candidate);
        return candidate;
      }
      for (auto* list : {&probation_, &protected_, &window_}) {
        if (!list->empty()) {
          const detail::slot_index victim = list->tail;
          list->remove(links_, victim, meta_[victim].weight);
          settle(victim);
          return victim;
        }
      }
      return detail::no_slot;  // unreachable: evict() is only called on a non-empty segment
    }

    void clear() noexcept {
      reads_.clear();
      pending_hits_ = 0;
      for (auto& m : meta_)
        m.pending = 0;
      window_.reset();
      probation_.reset();
      protected_.reset();
      sketch_.clear();
    }

    // Diagnostics for tests and the replay lab: the current window share, in capacity units,
    // and a key's estimated frequency. Both count the hits applied so far: up to
    // read_batch - 1 of the latest hits may still wait in the read buffer.
    [[nodiscard]] std::uint64_t window_capacity() const noexcept { return window_max_; }
    [[nodiscard]] unsigned frequency(std::uint64_t hash) const noexcept {
      return sketch_.frequency(hash);
    }

    // Applies the hits recorded so far (every other call does it first).
    void drain_reads() {
      if (reads_.empty()) return;
      reads_.drain(
          [this](detail::slot_index s) {
            detail::prefetch_for_write(&links_[s]);
            detail::prefetch_for_write(&meta_[s]);
          },
          [this](detail::slot_index s) { prefetch_neighbours(s); },
          [this](detail::slot_index s) { apply_hit(s); });
    }

   private:
    // Hits applied per batch: enough for a batch's cache misses to overlap, few enough that
    // the buffer stays in one or two cache lines' worth of slots.
    static constexpr std::size_t read_batch = 32;

    // The links a move of s will write: its neighbours' and its list's head.
    void prefetch_neighbours(detail::slot_index s) const noexcept {
      const auto [prev, next] = links_[s];
      if (prev != detail::no_slot) detail::prefetch_for_write(&links_[prev]);
      if (next != detail::no_slot) detail::prefetch_for_write(&links_[next]);
    }

    // A hit counts toward the entry's pending count (a byte in its metadata), which reaches the
    // sketch when the entry leaves, or with every entry's just before the sketch halves (see
    // flush_pending): the sketch's block stays out of the hit path. Admission adds a resident
    // entry's pending count to its estimate.
    void apply_hit(detail::slot_index s) {
      if (meta_[s].pending < 15) ++meta_[s].pending;
      // Flush when the pending hits would bring the sketch to its halving, so the halving
      // counts them as if each had been added at once.
      if (++pending_hits_ + sketch_.additions() >= sketch_.sample_size()) flush_pending();
      ++sample_hits_;
      switch (meta_[s].where) {
        case region::window:
          window_.move_to_front(links_, s);
          break;
        case region::probation:
          move(s, probation_, protected_, region::protected_);
          demote_protected_overflow();
          break;
        case region::protected_:
          protected_.move_to_front(links_, s);
          break;
      }
      climb();
    }

    enum class region : std::uint8_t { window, probation, protected_ };
    struct meta {
      std::uint64_t hash = 0;
      std::uint32_t weight = 0;
      region where = region::window;
      std::uint8_t pending = 0;  // hits not yet added to the sketch (at most 15)
    };

    // Adds every resident entry's pending hits to the sketch, so its periodic halving sees
    // them. O(slots), once per halving period (10 x capacity counted accesses).
    void flush_pending() noexcept {
      pending_hits_ = 0;
      for (auto& m : meta_) {
        if (m.pending != 0) {
          sketch_.add(m.hash, m.pending);
          m.pending = 0;
        }
      }
    }
    // The entry leaves the policy: its pending hits go to the sketch, which outlives it.
    void settle(detail::slot_index s) noexcept {
      sketch_.add(meta_[s].hash, meta_[s].pending);
      meta_[s].pending = 0;
    }
    [[nodiscard]] unsigned estimate(detail::slot_index s) const noexcept {
      return std::min(15u, sketch_.frequency(meta_[s].hash) + meta_[s].pending);
    }

    detail::index_list& list_of(region r) noexcept {
      return r == region::window ? window_ : r == region::probation ? probation_ : protected_;
    }
    void move(detail::slot_index s, detail::index_list& from, detail::index_list& to,
              region r) noexcept {
      from.remove(links_, s, meta_[s].weight);
      to.push_front(links_, s, meta_[s].weight);
      meta_[s].where = r;
    }

    bool admit(detail::slot_index candidate, detail::slot_index victim) noexcept {
      const unsigned candidate_frequency = estimate(candidate);
      const unsigned victim_frequency = estimate(victim);
      if (candidate_frequency > victim_frequency) return true;
      if (candidate_frequency >= 6) {
        random_ = mix64(random_ + 0x9e3779b97f4a7c15ULL);
        return (random_ & 127u) == 0;
      }
      return false;
    }

    void demote_protected_overflow() noexcept {
      while (protected_.weight > protected_max_ && !protected_.empty()) {
        move(protected_.tail, protected_, probation_, region::probation);
      }
    }

    // The hill climber: after each sample, step the window in the direction that last raised
    // the hit ratio; restart the step on a large change, otherwise let it decay.
    // The check is inline (it runs on every access), the step out of line.
    void climb() {
      if (sample_hits_ + sample_misses_ >= sketch_.sample_size()) [[unlikely]]
        step_window();
    }
#if defined(__GNUC__) || defined(__clang__)
    [[gnu::noinline]]
#endif
    void
    step_window() {
      const std::uint64_t requests = sample_hits_ + sample_misses_;
      const double hit_ratio = static_cast<double>(sample_hits_) / static_cast<double>(requests);
      const double change = hit_ratio - previous_hit_ratio_;
      const double amount = change >= 0 ? step_ : -step_;
      const double next_step = std::abs(change) >= 0.05 ? 0.0625 * static_cast<double>(capacity_) *
                                                              (amount >= 0 ? 1 : -1)
                                                        : 0.98 * amount;
      previous_hit_ratio_ = hit_ratio;
      step_ = next_step;
      sample_hits_ = 0;
      sample_misses_ = 0;
      const auto quota = static_cast<std::int64_t>(amount);
      if (quota > 0) {
        grow_window(static_cast<std::uint64_t>(quota));
      } else if (quota < 0) {
        shrink_window(static_cast<std::uint64_t>(-quota));
      }
    }

    void grow_window(std::uint64_t quota) {
      quota = std::min(quota, protected_max_);
      protected_max_ -= quota;
      window_max_ += quota;
      demote_protected_overflow();
      // Main's oldest entries move into the window to fill its new share.
      for (std::uint64_t moved = 0; moved < quota;) {
        detail::index_list& from = !probation_.empty() ? probation_ : protected_;
        if (from.empty()) break;
        const detail::slot_index s = from.tail;
        moved += meta_[s].weight;
        move(s, from, window_, region::window);
        // The moved entries are the window's oldest, as they were main's oldest.
        window_.remove(links_, s, meta_[s].weight);
        window_.push_back(links_, s, meta_[s].weight);
      }
    }

    void shrink_window(std::uint64_t quota) {
      quota = std::min(quota, window_max_ > 1 ? window_max_ - 1 : 0);
      protected_max_ += quota;
      window_max_ -= quota;
      for (std::uint64_t moved = 0; moved < quota && window_.count > 1;) {
        const detail::slot_index s = window_.tail;
        moved += meta_[s].weight;
        move(s, window_, probation_, region::probation);
      }
    }

    std::uint64_t capacity_;
    frequency_sketch sketch_;
    std::uint64_t window_max_;
    std::uint64_t protected_max_;
    double step_;
    double previous_hit_ratio_ = 0;
    std::uint64_t sample_hits_ = 0;
    std::uint64_t sample_misses_ = 0;
    std::uint64_t random_ = 0x5eed;
    std::uint64_t pending_hits_ = 0;  // hits applied since the last flush_pending()
    std::uint64_t last_miss_hash_ = 0;
    bool last_miss_valid_ = false;
    detail::link_table links_;
    std::vector<meta> meta_;
    detail::index_list window_;
    detail::index_list probation_;
    detail::index_list protected_;
    detail::read_buffer<read_batch> reads_;
  };
};

}  // namespace scaling
