// scaling/caching/adaptive.hpp: a policy that follows whichever of LRU, S3-FIFO, W-TinyLFU and
// LIRS is winning on the current traffic (`scaling::adaptive`).
//
// What it is: LRU, S3-FIFO, W-TinyLFU and LIRS all track every resident entry; eviction asks
// the one in the lead. The lead is decided by four miniature simulations (key hashes only) fed
// with the same requests (all of them for small caches, a 1/R hash sample at 1/R of the capacity
// for large ones, after Waldspurger et al., "Cache Modeling and Optimization using Miniature
// Simulations", ATC'17). The lead is reviewed once per epoch of 2.5 x the simulated capacity
// (sampled requests), on hit counts that keep 85% of their value from one epoch to the next,
// so it follows phase changes but not the swings inside a cycle of the workload. W-TinyLFU wins
// on frequency-skewed traffic; LIRS on loops and scans larger than the cache and on small caches
// over mixed loops (cpp, cs, multi2 at their smallest sizes); S3-FIFO on web traffic full of
// one-hit wonders at small sizes; LRU on strongly recency-driven traffic (zigzag, backward
// scans), where TinyLFU's admission filter and LIRS's 1% HIR share turn away entries that are
// about to be reused. On the 53 trace x size cells of benchmarks/caching/hit_ratios.csv it is
// within 2 points of the best of LRU, ARC, LIRS, W-TinyLFU, S3-FIFO and SIEVE on 50; the three
// others and why are in benchmarks/caching/README.md.
// When to pick it: when the workload is unknown or shifts between those regimes and hit ratio
// matters more than per-operation cost (an access costs about eight policy updates: see the
// hit-cost table in docs/patterns/application-caching.md).
//
//   scaling::cache<std::uint64_t, block, scaling::adaptive> blocks{100'000};
//
// Thread safety: as the cache that holds it. Complexity: O(1) amortised per call.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <boost/unordered/unordered_flat_map.hpp>

#include <scaling/caching/detail/index_list.hpp>
#include <scaling/caching/lirs.hpp>
#include <scaling/caching/lru.hpp>
#include <scaling/caching/s3fifo.hpp>
#include <scaling/caching/w_tinylfu.hpp>
#include <scaling/core/hash.hpp>

namespace scaling {

namespace detail {

// A key-only simulation of policy P: which hashes would be resident, and how many hits.
template <class P>
class mini_simulation {
 public:
  explicit mini_simulation(std::size_t capacity) : capacity_(capacity), policy_(capacity) {
    policy_.reserve(capacity);
    slots_.reserve(capacity);
  }

  // Returns whether the simulated cache hit.
  bool access(std::uint64_t hash) {
    if (const auto it = slots_.find(hash); it != slots_.end()) {
      policy_.on_hit(it->second, hash);
      return true;
    }
    policy_.on_miss(hash);
    slot_index s = 0;
    if (slots_.size() >= capacity_) {
      s = policy_.evict(1);
      slots_.erase(hash_of_[s]);
    } else {
      s = static_cast<slot_index>(slots_.size());
      if (hash_of_.size() <= s) hash_of_.resize(s + 1);
    }
    hash_of_[s] = hash;
    slots_.emplace(hash, s);
    policy_.on_insert(s, hash, 1);
    return false;
  }

 private:
  std::size_t capacity_;
  typename P::state policy_;
  boost::unordered_flat_map<std::uint64_t, slot_index> slots_;
  std::vector<std::uint64_t> hash_of_;
};

// Whether n is a multiple of d (d >= 1), without a division: n * inverse(d's odd part), rotated
// right by d's power of two, is at most (2^64 - 1) / d exactly for the multiples of d
// (Granlund and Montgomery, PLDI'94; Hacker's Delight 10-17). A 64-bit division costs tens of
// cycles; this one multiply is on every access of `adaptive`.
class multiple_test {
 public:
  explicit multiple_test(std::uint64_t d) noexcept
      : shift_(static_cast<unsigned>(std::countr_zero(d))), limit_(~std::uint64_t{0} / d) {
    const std::uint64_t odd = d >> shift_;
    std::uint64_t inverse = odd;  // correct to 3 bits; each step doubles them
    for (int i = 0; i < 5; ++i)
      inverse *= 2 - odd * inverse;
    inverse_ = inverse;
  }
  [[nodiscard]] bool operator()(std::uint64_t n) const noexcept {
    return std::rotr(n * inverse_, static_cast<int>(shift_)) <= limit_;
  }

 private:
  unsigned shift_;
  std::uint64_t limit_;
  std::uint64_t inverse_ = 1;
};

}  // namespace detail

struct adaptive {
  // on_hit takes the key hash from the entry's insertion (kept per slot): the cache skips it.
  static constexpr bool hit_needs_hash = false;

  class state {
   public:
    explicit state(std::size_t capacity)
        : sample_(std::max<std::size_t>(1, capacity / 2048)),
          sampled_key_(sample_),
          lru_(capacity),
          s3_(capacity),
          tiny_(capacity),
          lirs_(capacity),
          mini_lru_(std::max<std::size_t>(1, capacity / sample_)),
          mini_s3_(std::max<std::size_t>(1, capacity / sample_)),
          mini_tiny_(std::max<std::size_t>(1, capacity / sample_)),
          mini_lirs_(std::max<std::size_t>(1, capacity / sample_)),
          epoch_(std::max<std::size_t>(256, 5 * (capacity / sample_) / 2)) {}

    void reserve(std::size_t slots) {
      if (hash_.size() < slots) hash_.resize(slots);
      lru_.reserve(slots);
      s3_.reserve(slots);
      tiny_.reserve(slots);
      lirs_.reserve(slots);
    }
    void on_insert(detail::slot_index s, std::uint64_t hash, std::uint32_t w) {
      hash_[s] = hash;
      lru_.on_insert(s, hash, w);
      s3_.on_insert(s, hash, w);
      tiny_.on_insert(s, hash, w);
      lirs_.on_insert(s, hash, w);
    }
    void on_hit(detail::slot_index s, std::uint64_t /*hash*/) {
      const std::uint64_t hash = hash_[s];
      lru_.on_hit(s, hash);
      s3_.on_hit(s, hash);
      tiny_.on_hit(s, hash);
      lirs_.on_hit(s, hash);
      simulate(hash);
    }
    void on_miss(std::uint64_t hash) {
      lru_.on_miss(hash);
      s3_.on_miss(hash);
      tiny_.on_miss(hash);
      lirs_.on_miss(hash);
      simulate(hash);
    }
    void on_update(detail::slot_index s, std::uint64_t hash, std::uint32_t old_w,
                   std::uint32_t new_w) {
      lru_.on_update(s, hash, old_w, new_w);
      s3_.on_update(s, hash, old_w, new_w);
      tiny_.on_update(s, hash, old_w, new_w);
      lirs_.on_update(s, hash, old_w, new_w);
    }
    void on_remove(detail::slot_index s) noexcept {
      lru_.on_remove(s);
      s3_.on_remove(s);
      tiny_.on_remove(s);
      lirs_.on_remove(s);
    }
    [[nodiscard]] detail::slot_index evict(std::uint32_t incoming) {
      detail::slot_index victim = detail::no_slot;
      switch (leader_) {
        case candidate::lru:
          victim = lru_.evict(incoming);
          s3_.on_remove(victim);
          tiny_.on_remove(victim);
          lirs_.on_remove(victim);
          break;
        case candidate::s3fifo:
          victim = s3_.evict(incoming);
          lru_.on_remove(victim);
          tiny_.on_remove(victim);
          lirs_.on_remove(victim);
          break;
        case candidate::w_tinylfu:
          victim = tiny_.evict(incoming);
          lru_.on_remove(victim);
          s3_.on_remove(victim);
          lirs_.on_remove(victim);
          break;
        case candidate::lirs:
          victim = lirs_.evict(incoming);
          lru_.on_remove(victim);
          s3_.on_remove(victim);
          tiny_.on_remove(victim);
          break;
      }
      return victim;
    }
    void clear() noexcept {
      lru_.clear();
      s3_.clear();
      tiny_.clear();
      lirs_.clear();
    }

    enum class candidate : std::uint8_t { lru, s3fifo, w_tinylfu, lirs };
    // The policy that currently decides evictions (for tests and diagnostics).
    [[nodiscard]] candidate leader() const noexcept { return leader_; }

   private:
    void simulate(std::uint64_t hash) {
      const std::uint64_t mixed = mix64(hash);
      if (!sampled_key_(mixed)) return;  // mixed % sample_ != 0
      score_[0] += mini_lru_.access(mixed) ? 1.0 : 0.0;
      score_[1] += mini_s3_.access(mixed) ? 1.0 : 0.0;
      score_[2] += mini_tiny_.access(mixed) ? 1.0 : 0.0;
      score_[3] += mini_lirs_.access(mixed) ? 1.0 : 0.0;
      if (++sampled_ % epoch_ != 0) return;
      // Decide only at the end of an epoch, and only on a clear lead. Within a cycle of the
      // workload (a sweep back and forth, say) the policies hit at different moments, so a
      // lead seen mid-cycle is often not a lead over the cycle; and each switch costs the hits
      // the previous leader's residents were about to get. Switching back and forth would let
      // each policy undo the other's choices and do worse than either.
      const auto current = static_cast<std::size_t>(leader_);
      std::size_t best = current;
      for (std::size_t i = 0; i < 4; ++i) {
        if (score_[i] > score_[best]) best = i;
      }
      if (best != current && score_[best] > score_[current] * 1.03 + 8) {
        leader_ = static_cast<candidate>(best);
      }
      for (double& score : score_)
        score *= 0.85;
    }

    std::uint64_t sample_;
    detail::multiple_test sampled_key_;  // whether a mixed hash is a multiple of sample_
    std::vector<std::uint64_t> hash_;    // per slot: the key hash given at insertion
    lru::state lru_;
    s3fifo::state s3_;
    w_tinylfu::state tiny_;
    lirs::state lirs_;
    detail::mini_simulation<lru> mini_lru_;
    detail::mini_simulation<s3fifo> mini_s3_;
    detail::mini_simulation<w_tinylfu> mini_tiny_;
    detail::mini_simulation<lirs> mini_lirs_;
    std::uint64_t epoch_;  // sampled requests between two reviews of the lead
    std::uint64_t sampled_ = 0;
    double score_[4] = {0, 0, 0, 0};
    candidate leader_ = candidate::w_tinylfu;
  };
};

}  // namespace scaling
