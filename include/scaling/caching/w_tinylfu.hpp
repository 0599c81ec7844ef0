// scaling/caching/w_tinylfu.hpp: Window TinyLFU with an adaptive window (`scaling::w_tinylfu`).
//
// What it is: Caffeine's design. New entries enter a small window (1% of the capacity at
// first); the rest is a segmented main area (80% protected, 20% probation). When the window
// overflows, its oldest entry becomes a candidate for main and must beat main's victim (the
// oldest probation entry) on estimated frequency, from a `frequency_sketch` that counts every
// access and ages. A hill climber samples the hit ratio every 10 x capacity requests and moves
// capacity between window and main: recency-heavy workloads grow the window, frequency-heavy
// ones shrink it.
// When to pick it: the best general-purpose policy when the workload is unknown or mixed;
// resists scans and loops (a key seen once rarely displaces a popular one). 8-16 bytes of
// sketch per entry (a 64-bit word per entry, rounded up to a power of two).
// The read path: a hit on main (99% of the entries unless the workload is recency-heavy)
// moves nothing. It sets a reference bit and counts in a byte of the entry's own metadata
// (one 4-byte record per slot). Protected is a second-chance queue: its oldest entry, when
// marked at the moment it would be demoted, goes back to its front instead (as CLOCK does);
// a marked probation entry is promoted to protected when probation's eviction reaches it,
// not at the hit. The window stays an exact LRU (a hit moves the entry to its front): its
// order picks the keys that get a duel. The per-entry count joins the sketch when the entry
// leaves and is halved (rounded up) with the sketch; its hits count toward the halving while
// the key's estimate is below 15, as the sketch's own increments do. Admission adds it to the
// estimate of the two entries it compares. So a hit on main touches no list link and no
// sketch block, and hashes nothing (`hit_needs_hash = false`); misses and insertions count
// in the sketch at once.
// Reference: Einziger, Friedman, Manes, "TinyLFU" (ACM ToS 2017); Caffeine 3 (Ben Manes):
// window 1%, protected 80%, admit on frequency > victim's, or with probability 1/128 when the
// candidate's frequency is >= 6 (so crafted collisions cannot lock an attacker's key out);
// hill climbing with a 6.25% step decaying by 0.98, restarted on a 5-point hit-ratio change.
//
//   scaling::cache<std::string, profile, scaling::w_tinylfu> profiles{100'000};
//
// Thread safety: as the cache that holds it. Complexity: O(1) amortised per call: an entry
// goes back to protected's front, or is promoted, at most once per hit it received; a window
// adjustment moves at most one step's worth of entries, once per sample period; the counts are
// halved with the sketch, one pass over the slots' 4-byte records per 10 x capacity counted
// accesses.
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
      counts_.resize(slots);
    }

    void on_insert(detail::slot_index s, std::uint64_t hash, std::uint32_t w) {
      if (hash != last_miss_hash_ || !last_miss_valid_) {
        sketch_.increment(hash);
        after_sketch_change();
      }
      last_miss_valid_ = false;
      meta_[s] = {hash, w};
      counts_[s] = {0, static_cast<std::uint8_t>(sketch_.frequency(hash)), 0, region::window};
      window_.push_front(links_, s, w);
      // evict() made room in the window when the segment was full; with weights, or while the
      // segment fills up, the window's overflow moves to probation without a duel.
      while (window_.weight > window_max_ && window_.count > 1) {
        move(window_.tail, window_, probation_, region::probation);
      }
    }

    // A hit in main moves nothing: it marks the entry (protected gives it a second chance,
    // probation promotes it, when the entry reaches the queue's end). The window stays an exact
    // LRU (a move to its front), as its order decides which new keys get a duel; it holds 1%
    // of the entries unless the workload is recency-heavy. Every hit counts toward the
    // entry's frequency.
    void on_hit(detail::slot_index s, std::uint64_t /*hash*/) {
      counts& c = counts_[s];
      if (c.where == region::window) [[unlikely]] {
        window_.move_to_front(links_, s);
      } else {
        c.referenced = 1;
      }
      count_hit(c);
      climb();
    }

    void on_miss(std::uint64_t hash) {
      sketch_.increment(hash);
      after_sketch_change();
      last_miss_hash_ = hash;
      last_miss_valid_ = true;
      ++sample_misses_;
      climb();
    }

    void on_update(detail::slot_index s, std::uint64_t /*hash*/, std::uint32_t old_w,
                   std::uint32_t new_w) {
      list_of(counts_[s].where).weight += static_cast<std::uint64_t>(new_w) - old_w;
      meta_[s].weight = new_w;
      on_hit(s, 0);
    }

    void on_remove(detail::slot_index s) {
      list_of(counts_[s].where).remove(links_, s, meta_[s].weight);
      settle(s);
    }

    [[nodiscard]] detail::slot_index evict(std::uint32_t incoming) {
      // The newcomer will push the window's oldest entry out: that entry is the candidate for
      // main, and must beat main's victim (the oldest in probation) to be admitted.
      if (!window_.empty() && window_.weight + incoming > window_max_) {
        const detail::slot_index candidate = window_.tail;
        const detail::slot_index victim = main_victim();
        if (victim == detail::no_slot) {
          window_.remove(links_, candidate, meta_[candidate].weight);
          settle(candidate);
          return candidate;
        }
        if (admit(candidate, victim)) {
          list_of(counts_[victim].where).remove(links_, victim, meta_[victim].weight);
          settle(victim);
          move(candidate, window_, probation_, region::probation);
          return victim;
        }
        window_.remove(links_, candidate, meta_[candidate].weight);
        settle(candidate);
        return candidate;
      }
      detail::slot_index victim = main_victim();
      if (victim == detail::no_slot) victim = window_.tail;
      if (victim == detail::no_slot) return victim;  // unreachable: the segment is not empty
      list_of(counts_[victim].where).remove(links_, victim, meta_[victim].weight);
      settle(victim);
      return victim;
    }

    void clear() noexcept {
      pending_hits_ = 0;
      for (auto& c : counts_)
        c = {};
      window_.reset();
      probation_.reset();
      protected_.reset();
      sketch_.clear();
      halvings_seen_ = sketch_.halvings();
    }

    // Diagnostics for tests and the replay lab: the current window share, in capacity units;
    // a key's estimated frequency in the sketch (without the hits its entry still holds); an
    // entry's region, whether a hit marked it since its queue last passed it, and its estimate.
    [[nodiscard]] std::uint64_t window_capacity() const noexcept { return window_max_; }
    [[nodiscard]] unsigned frequency(std::uint64_t hash) const noexcept {
      return sketch_.frequency(hash);
    }
    enum class region : std::uint8_t { window, probation, protected_ };
    [[nodiscard]] region region_of(detail::slot_index s) const noexcept { return counts_[s].where; }
    [[nodiscard]] bool referenced(detail::slot_index s) const noexcept {
      return counts_[s].referenced != 0;
    }
    // A resident entry's estimated frequency as admission sees it: the sketch's count for its
    // key plus the hits the entry holds (at most 15).
    [[nodiscard]] unsigned estimate_of(detail::slot_index s) const noexcept { return estimate(s); }

   private:
    // What a hit writes, in one 4-byte record per slot: the hits not yet in the sketch, the
    // key's sketch estimate when they started to count (halved with the sketch, so a hit
    // counts toward the halving only while the key's estimate is below 15), the reference bit
    // and the region.
    struct counts {
      std::uint8_t pending = 0;
      std::uint8_t base = 0;
      std::uint8_t referenced = 0;
      region where = region::window;
    };
    struct meta {
      std::uint64_t hash = 0;
      std::uint32_t weight = 0;
    };

    // Counts a hit toward the entry's frequency, and toward the sketch's halving while the
    // key's estimate is below 15 (a saturated count adds nothing, as in the sketch).
    void count_hit(counts& c) {
      ++sample_hits_;
      if (c.base + c.pending < 15) {
        ++c.pending;
        if (++pending_hits_ + sketch_.additions() >= sketch_.sample_size()) [[unlikely]]
          age();
      }
    }

    // The oldest entry of a second-chance queue that no hit marked since the queue last passed
    // it; each marked one met on the way goes back to the front, unmarked.
    detail::slot_index second_chance(detail::index_list& list) noexcept {
      for (;;) {
        const detail::slot_index s = list.tail;
        if (counts_[s].referenced == 0) return s;
        counts_[s].referenced = 0;
        list.move_to_front(links_, s);
      }
    }

    // Main's victim: probation's oldest unmarked entry; each marked one met on the way is
    // promoted to protected (as its hit would have promoted it at once), and protected's
    // overflow is demoted to probation's front. With probation empty, protected's oldest
    // unmarked entry. no_slot when main is empty.
    detail::slot_index main_victim() noexcept {
      while (!probation_.empty()) {
        const detail::slot_index s = probation_.tail;
        if (counts_[s].referenced == 0) return s;
        counts_[s].referenced = 0;
        move(s, probation_, protected_, region::protected_);
        demote_protected_overflow();
      }
      if (protected_.empty()) return detail::no_slot;
      return second_chance(protected_);
    }

    // The counts are halved with the sketch (rounded up: a hit not yet in the sketch escapes
    // one halving, as one flushed into it after the halving would), so its periodic ageing
    // applies to them as to the sketch's own counts. An add() may reach the halving itself, or
    // bring the sum of the sketch's additions and the pending hits to it.
    void after_sketch_change() noexcept {
      if (sketch_.halvings() != halvings_seen_) {
        halve_pending();
      } else if (pending_hits_ + sketch_.additions() >= sketch_.sample_size()) {
        age();
      }
    }
#if defined(__GNUC__) || defined(__clang__)
    [[gnu::noinline]]
#endif
    void
    age() noexcept {
      sketch_.halve();
      halve_pending();
    }
    void halve_pending() noexcept {
      std::uint64_t sum = 0;
      for (auto& c : counts_) {
        c.pending = static_cast<std::uint8_t>((c.pending + 1) >> 1);
        c.base = static_cast<std::uint8_t>(c.base >> 1);
        sum += c.pending;
      }
      pending_hits_ = sum;
      halvings_seen_ = sketch_.halvings();
    }

    // The entry leaves the policy: its pending hits go to the sketch, which outlives it.
    void settle(detail::slot_index s) noexcept {
      const unsigned pending = counts_[s].pending;
      if (pending == 0) return;
      counts_[s].pending = 0;
      pending_hits_ -= pending;
      sketch_.add(meta_[s].hash, pending);
      after_sketch_change();
    }
    [[nodiscard]] unsigned estimate(detail::slot_index s) const noexcept {
      return std::min(15u, sketch_.frequency(meta_[s].hash) + counts_[s].pending);
    }

    detail::index_list& list_of(region r) noexcept {
      return r == region::window ? window_ : r == region::probation ? probation_ : protected_;
    }
    void move(detail::slot_index s, detail::index_list& from, detail::index_list& to,
              region r) noexcept {
      from.remove(links_, s, meta_[s].weight);
      to.push_front(links_, s, meta_[s].weight);
      counts_[s].where = r;
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

    // Protected's oldest entries beyond its share go to probation's front; a marked one goes
    // back to protected's front instead, unmarked.
    void demote_protected_overflow() noexcept {
      while (protected_.weight > protected_max_ && !protected_.empty()) {
        const detail::slot_index s = protected_.tail;
        if (counts_[s].referenced != 0) {
          counts_[s].referenced = 0;
          protected_.move_to_front(links_, s);
          continue;
        }
        move(s, protected_, probation_, region::probation);
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
        counts_[s].referenced = 0;  // the window orders by recency alone
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
    std::uint64_t pending_hits_ = 0;   // the sum of the entries' pending counts
    std::uint64_t halvings_seen_ = 0;  // the sketch's halvings the counts have followed
    std::uint64_t last_miss_hash_ = 0;
    bool last_miss_valid_ = false;
    detail::link_table links_;
    std::vector<meta> meta_;
    std::vector<counts> counts_;
    detail::index_list window_;
    detail::index_list probation_;
    detail::index_list protected_;
  };
};

}  // namespace scaling
