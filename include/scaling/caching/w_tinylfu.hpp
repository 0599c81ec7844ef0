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
// resists scans and loops (a key seen once rarely displaces a popular one). Costs a sketch
// update per access (one cache line) and ~0.5 bytes of sketch per entry.
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
#include <scaling/caching/frequency_sketch.hpp>
#include <scaling/core/hash.hpp>

namespace scaling {

struct w_tinylfu {
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

    void on_hit(detail::slot_index s, std::uint64_t hash) {
      sketch_.increment(hash);
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

    void on_miss(std::uint64_t hash) {
      sketch_.increment(hash);
      last_miss_hash_ = hash;
      last_miss_valid_ = true;
      ++sample_misses_;
      climb();
    }

    void on_update(detail::slot_index s, std::uint64_t hash, std::uint32_t old_w,
                   std::uint32_t new_w) {
      list_of(meta_[s].where).weight += static_cast<std::uint64_t>(new_w) - old_w;
      meta_[s].weight = new_w;
      on_hit(s, hash);
    }

    void on_remove(detail::slot_index s) noexcept {
      list_of(meta_[s].where).remove(links_, s, meta_[s].weight);
    }

    [[nodiscard]] detail::slot_index evict(std::uint32_t incoming) {
      // The newcomer will push the window's oldest entry out: that entry is the candidate for
      // main, and must beat main's victim (the oldest in probation) to be admitted.
      if (!window_.empty() && window_.weight + incoming > window_max_) {
        const detail::slot_index candidate = window_.tail;
        const detail::slot_index victim = !probation_.empty() ? probation_.tail : protected_.tail;
        if (victim == detail::no_slot) {
          window_.remove(links_, candidate, meta_[candidate].weight);
          return candidate;
        }
        if (admit(meta_[candidate].hash, meta_[victim].hash)) {
          list_of(meta_[victim].where).remove(links_, victim, meta_[victim].weight);
          move(candidate, window_, probation_, region::probation);
          return victim;
        }
        window_.remove(links_, candidate, meta_[candidate].weight);
        return candidate;
      }
      for (auto* list : {&probation_, &protected_, &window_}) {
        if (!list->empty()) {
          const detail::slot_index victim = list->tail;
          list->remove(links_, victim, meta_[victim].weight);
          return victim;
        }
      }
      return detail::no_slot;  // unreachable: evict() is only called on a non-empty segment
    }

    void clear() noexcept {
      window_.reset();
      probation_.reset();
      protected_.reset();
      sketch_.clear();
    }

    // Diagnostics for tests and the replay lab: the current window share, in capacity units.
    [[nodiscard]] std::uint64_t window_capacity() const noexcept { return window_max_; }
    [[nodiscard]] unsigned frequency(std::uint64_t hash) const noexcept {
      return sketch_.frequency(hash);
    }

   private:
    enum class region : std::uint8_t { window, probation, protected_ };
    struct meta {
      std::uint64_t hash = 0;
      std::uint32_t weight = 0;
      region where = region::window;
    };

    detail::index_list& list_of(region r) noexcept {
      return r == region::window ? window_ : r == region::probation ? probation_ : protected_;
    }
    void move(detail::slot_index s, detail::index_list& from, detail::index_list& to,
              region r) noexcept {
      from.remove(links_, s, meta_[s].weight);
      to.push_front(links_, s, meta_[s].weight);
      meta_[s].where = r;
    }

    bool admit(std::uint64_t candidate, std::uint64_t victim) noexcept {
      const unsigned candidate_frequency = sketch_.frequency(candidate);
      const unsigned victim_frequency = sketch_.frequency(victim);
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
    void climb() {
      const std::uint64_t requests = sample_hits_ + sample_misses_;
      if (requests < sketch_.sample_size()) return;
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
    std::uint64_t last_miss_hash_ = 0;
    bool last_miss_valid_ = false;
    detail::link_table links_;
    std::vector<meta> meta_;
    detail::index_list window_;
    detail::index_list probation_;
    detail::index_list protected_;
  };
};

}  // namespace scaling
