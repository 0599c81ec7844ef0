// scaling/caching/adaptive.hpp: a policy that follows whichever of LRU, S3-FIFO, W-TinyLFU and
// LIRS is winning on the current traffic (`scaling::adaptive`).
//
// What it is: one of LRU, S3-FIFO, W-TinyLFU and LIRS (the leader, W-TinyLFU at first) tracks the
// resident entries and picks the victims; all four also run as miniature simulations (key hashes
// only) fed with a sample of the requests: the keys whose mixed hash is a multiple of R, where R =
// capacity / 192 below 4096 entries (each simulation holds 192 to 383 keys, every key below 384
// entries) and at least 64 from 4096 up (after Waldspurger et al., "Cache Modeling and Optimization
// using Miniature Simulations", ATC'17). The lead is reviewed once per epoch of 2.5 x the simulated
// capacity (sampled requests; the first review after 5/6 of one), on hit counts that keep 85% of
// their value from one epoch to the next, so it follows phase changes but not the swings inside a
// cycle of the workload. At a switch the new leader is built from the residents in the old leader's
// eviction order, coldest first (read by evicting them all from the old leader), so its first
// victims are the ones the old leader would have chosen. W-TinyLFU wins on frequency-skewed
// traffic; LIRS on loops and scans larger than the cache and on small caches over mixed loops (cpp,
// cs, multi2 at their smallest sizes); S3-FIFO on web traffic full of one-hit wonders at small
// sizes; LRU on strongly recency-driven traffic (zigzag, backward scans), where TinyLFU's admission
// filter and LIRS's 1% HIR share turn away entries that are about to be reused. On the 53 trace x
// size cells of benchmarks/caching/hit_ratios.csv it is within 2 points of the best of LRU, ARC,
// LIRS, W-TinyLFU, S3-FIFO and SIEVE on 51; the two others and why are in
// benchmarks/caching/README.md.
// In a sharded cache the segments share one leader (`adaptive::shared`): the cache spreads
// keys over its segments by hash, so segment 0's traffic is a sample of the whole, and its
// simulations choose for every segment; the others simulate nothing and take the leader at
// their next eviction.
// When to pick it: when the workload is unknown or shifts between those regimes. A hit costs
// the leader's hit plus a bit test (and, for one request in R, a simulated access): close to
// W-TinyLFU's while W-TinyLFU leads (see the hit-cost table in
// docs/patterns/application-caching.md); below 4096 entries, and in segment 0 of a sharded
// cache, the simulated accesses are more frequent.
//
//   scaling::cache<std::uint64_t, block, scaling::adaptive> blocks{100'000};
//
// Thread safety: as the cache that holds it; `shared` is an atomic written by segment 0 and
// read by the others, each under its own segment's lock. Complexity: O(1) amortised per call;
// a switch, at most once per epoch (and once per switch of segment 0 in each other segment),
// rebuilds the new leader in O(n) for n residents. Memory: the leader's, plus 13 bytes per
// slot (key hash, weight, sampled bit) and four simulations of up to 383 keys (none in
// segments other than 0).
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>
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

// Key-only simulations of the policies Ps over the same requests: which hashes each would
// hold, and which of them hit. One hash map serves them all (a key is in it while any of them
// holds it, with its slot in each), so an access costs one probe and a policy update each.
template <class... Ps>
class mini_simulations {
 public:
  static constexpr std::size_t count = sizeof...(Ps);

  explicit mini_simulations(std::size_t capacity)
      : capacity_(capacity), policies_(typename Ps::state(capacity)...) {
    std::apply([capacity](auto&... p) { (p.reserve(capacity), ...); }, policies_);
    for (auto& hashes : hash_of_)
      hashes.resize(capacity);
    slots_.reserve(count * capacity);
  }

  // Returns which simulated caches hit: bit i for the i-th of Ps.
  unsigned access(std::uint64_t hash) {
    const auto [it, added] = slots_.try_emplace(hash);
    // Erasing other keys below leaves this reference valid (no rehash on erase).
    std::array<slot_index, count>& where = it->second;
    if (added) where.fill(no_slot);
    unsigned hits = 0;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((hits |= step<I>(where, hash) ? 1u << I : 0u), ...);
    }
    (std::make_index_sequence<count>{});
    return hits;
  }

 private:
  template <std::size_t I>
  bool step(std::array<slot_index, count>& where, std::uint64_t hash) {
    auto& policy = std::get<I>(policies_);
    if (where[I] != no_slot) {
      policy.on_hit(where[I], hash);
      return true;
    }
    policy.on_miss(hash);
    slot_index s = 0;
    if (used_[I] >= capacity_) {
      s = policy.evict(1);
      const auto victim = slots_.find(hash_of_[I][s]);
      victim->second[I] = no_slot;
      if (std::all_of(victim->second.begin(), victim->second.end(),
                      [](slot_index x) { return x == no_slot; })) {
        slots_.erase(victim);
      }
    } else {
      s = static_cast<slot_index>(used_[I]++);
    }
    hash_of_[I][s] = hash;
    where[I] = s;
    policy.on_insert(s, hash, 1);
    return false;
  }

  std::size_t capacity_;
  std::tuple<typename Ps::state...> policies_;
  boost::unordered_flat_map<std::uint64_t, std::array<slot_index, count>> slots_;
  std::array<std::vector<std::uint64_t>, count> hash_of_;  // per policy and slot: its key
  std::array<std::size_t, count> used_{};                  // slots filled so far, per policy
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
  // on_hit takes no key hash (a sampled entry's simulations use the hash kept from its
  // insertion): the cache skips it.
  static constexpr bool hit_needs_hash = false;

  // The policies adaptive can hand the evictions to.
  enum class candidate : std::uint8_t { lru, s3fifo, w_tinylfu, lirs };

  class state;

  // What the segments of one cache share (see segments_share): the leader that segment 0's
  // simulations chose. A sharded cache spreads its keys over the segments by hash, so each
  // segment's traffic is a sample of the whole (as the simulations' own key sampling is), and
  // one segment's simulations speak for all: the others simulate nothing and take the leader
  // from here at their next eviction. Thread safety: written under segment 0's lock, read
  // under the others'; one relaxed atomic, since it publishes nothing else.
  class shared {
   public:
    [[nodiscard]] candidate leader() const noexcept {
      return leader_.load(std::memory_order_relaxed);
    }

   private:
    friend class state;
    std::atomic<candidate> leader_{candidate::w_tinylfu};
  };

  class state {
   public:
    using candidate = adaptive::candidate;

    explicit state(std::size_t capacity)
        : capacity_(std::max<std::size_t>(1, capacity)),
          sample_(sample_rate_for(capacity_)),
          sampled_key_(sample_),
          simulations_(std::max<std::size_t>(1, capacity_ / sample_)),
          epoch_(std::max<std::size_t>(256, 5 * (capacity_ / sample_) / 2)) {}

    void reserve(std::size_t slots) {
      if (hash_.size() < slots) {
        hash_.resize(slots);
        weight_.resize(slots);
        sampled_.resize((slots + 63) / 64);
      }
      slots_ = std::max(slots_, slots);
      with_leader([slots](auto& p) { p.reserve(slots); });
    }
    void on_insert(detail::slot_index s, std::uint64_t hash, std::uint32_t w) {
      hash_[s] = hash;
      weight_[s] = w;
      const std::uint64_t bit = std::uint64_t{1} << (s % 64);
      if (simulates_ && sampled_key_(mix64(hash))) {
        sampled_[s / 64] |= bit;
      } else {
        sampled_[s / 64] &= ~bit;
      }
      ++residents_;
      with_leader([&](auto& p) { p.on_insert(s, hash, w); });
    }
    void on_hit(detail::slot_index s, std::uint64_t /*hash*/) {
      with_leader([s](auto& p) { p.on_hit(s, 0); });  // no candidate reads a hit's hash
      if (((sampled_[s / 64] >> (s % 64)) & 1) != 0) [[unlikely]]
        simulate(mix64(hash_[s]));
    }
    void on_miss(std::uint64_t hash) {
      with_leader([hash](auto& p) { p.on_miss(hash); });
      if (!simulates_) return;
      const std::uint64_t mixed = mix64(hash);
      if (sampled_key_(mixed)) simulate(mixed);
    }
    void on_update(detail::slot_index s, std::uint64_t hash, std::uint32_t old_w,
                   std::uint32_t new_w) {
      weight_[s] = new_w;
      with_leader([&](auto& p) { p.on_update(s, hash, old_w, new_w); });
    }
    void on_remove(detail::slot_index s) {
      --residents_;
      with_leader([s](auto& p) { p.on_remove(s); });
    }
    [[nodiscard]] detail::slot_index evict(std::uint32_t incoming) {
      if (shared_ != nullptr && !simulates_) follow(shared_->leader());
      --residents_;
      return with_leader([incoming](auto& p) { return p.evict(incoming); });
    }
    void clear() noexcept {
      residents_ = 0;
      with_leader([](auto& p) { p.clear(); });
    }

    // Hands the eviction decisions to policy c now (a no-op when it leads already); the
    // reviews of the simulations may hand them on again. For tests, and for a caller that
    // knows its workload is about to change.
    // Complexity: O(n) for n resident entries.
    void follow(candidate c) {
      if (c != leader_) lead(c);
    }

    // Joins the cache's other segments (segments_share): segment 0 keeps its simulations and
    // publishes its leader to `all`; every other segment drops its simulations and follows
    // that leader from its next eviction. Called by the cache before any other call.
    void attach(shared& all, std::size_t segment) {
      shared_ = &all;
      simulates_ = segment == 0;
      if (!simulates_) simulations_ = decltype(simulations_){1};
    }

    // Diagnostics for tests: the policy that currently decides evictions, how many times the
    // lead has changed, and the simulations' sampling rate (1: every key is simulated).
    [[nodiscard]] candidate leader() const noexcept { return leader_; }
    [[nodiscard]] std::uint64_t switches() const noexcept { return switches_; }
    [[nodiscard]] std::uint64_t sample_rate() const noexcept { return sample_; }
    // Whether this state runs the simulations (false: it follows segment 0's leader).
    [[nodiscard]] bool simulates() const noexcept { return simulates_; }

   private:
    // Which keys the simulations follow: those whose mixed hash is a multiple of the result.
    // Below 4096 entries, one in capacity / 192, so each simulation holds 192 to 383 keys
    // (every key below 384 entries): 128 lost up to 5 points on the hit-ratio table's cells of
    // 500-2000 entries, 256 and 320 did no better. From 4096 entries up, at least one in 64:
    // 64 to 191 keys then move the table's cells of 5000-16384 entries by at most 0.76 points,
    // and a simulated access (a hash-map probe and four policy updates, 20-80 ns) then comes
    // with at most one request in 64 (benchmarks/caching/README.md).
    static constexpr std::size_t simulated_keys = 192;
    static constexpr std::size_t sparse_from = 4096;
    static constexpr std::size_t sparse_rate = 64;
    [[nodiscard]] static std::size_t sample_rate_for(std::size_t capacity) noexcept {
      const std::size_t rate = std::max<std::size_t>(1, capacity / simulated_keys);
      return capacity < sparse_from ? rate : std::max(rate, sparse_rate);
    }

    // Calls f on the leader's state (every candidate's call returns the same type).
    template <class F>
    std::invoke_result_t<F&, lru::state&> with_leader(F&& f) {
      switch (leader_) {
        case candidate::lru:
          return f(lru_);
        case candidate::s3fifo:
          return f(s3_);
        case candidate::lirs:
          return f(lirs_);
        case candidate::w_tinylfu:
          break;
      }
      return f(tiny_);
    }

    void simulate(std::uint64_t mixed) {
      const unsigned hits = simulations_.access(mixed);
      for (std::size_t i = 0; i < 4; ++i)
        score_[i] += ((hits >> i) & 1) != 0 ? 1.0 : 0.0;
      if (++sampled_requests_ < next_review_) return;
      next_review_ = sampled_requests_ + epoch_;
      // Decide only at the end of an epoch, and only on a clear lead. Within a cycle of the
      // workload (a sweep back and forth, say) the policies hit at different moments, so a
      // lead seen mid-cycle is often not a lead over the cycle; and each switch costs the hits
      // the previous leader's residents were about to get. Switching back and forth would let
      // each policy undo the other's choices and do worse than either. (The absolute margin
      // was 8 hits when every policy was live; with the next leader rebuilt at a switch, 2
      // keeps the table's cells as close, web07 @2048 a point closer.)
      const auto current = static_cast<std::size_t>(leader_);
      std::size_t best = current;
      for (std::size_t i = 0; i < 4; ++i) {
        if (score_[i] > score_[best]) best = i;
      }
      if (best != current && score_[best] > score_[current] * 1.03 + 2) {
        lead(static_cast<candidate>(best));
      }
      for (double& score : score_)
        score *= 0.85;
    }

    // Hands the residents to a fresh state of the new leader in the old leader's eviction
    // order (read by evicting every resident from it), coldest first, so the new leader's first
    // victims are the ones the old one would have chosen. LIRS makes its newcomers LIR until
    // the LIR share is full, so the coldest that overflow that share go last, into its HIR
    // queue, which supplies its victims. The old leader's state is released.
    void lead(candidate next) {
      std::vector<detail::slot_index> order(residents_);
      with_leader([&order](auto& p) {
        for (detail::slot_index& s : order)
          s = p.evict(0);
        p = std::remove_reference_t<decltype(p)>{1};
      });
      if (next == candidate::lirs) {
        std::uint64_t total = 0;
        for (const detail::slot_index s : order)
          total += weight_[s];
        const std::uint64_t lir_max = capacity_ - std::max<std::uint64_t>(1, capacity_ / 100);
        std::size_t cold = 0;
        for (std::uint64_t over = total > lir_max ? total - lir_max : 0;
             over > 0 && cold < order.size(); ++cold) {
          over -= std::min<std::uint64_t>(over, weight_[order[cold]]);
        }
        std::rotate(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(cold), order.end());
      }
      leader_ = next;
      ++switches_;
      if (shared_ != nullptr && simulates_) shared_->leader_.store(next, std::memory_order_relaxed);
      with_leader([&](auto& p) {
        p = std::remove_reference_t<decltype(p)>{capacity_};
        p.reserve(slots_);
        for (const detail::slot_index s : order)
          p.on_insert(s, hash_[s], weight_[s]);
      });
    }

    std::size_t capacity_;
    std::uint64_t sample_;
    detail::multiple_test sampled_key_;   // whether a mixed hash is a multiple of sample_
    std::vector<std::uint64_t> hash_;     // per slot: the key hash given at insertion
    std::vector<std::uint32_t> weight_;   // per slot: the entry's weight
    std::vector<std::uint64_t> sampled_;  // a bit per slot: the entry's key is simulated
    std::size_t slots_ = 0;               // slots reserved so far
    std::size_t residents_ = 0;           // entries the leader holds
    candidate leader_ = candidate::w_tinylfu;
    shared* shared_ = nullptr;  // the cache's other segments, when attached
    bool simulates_ = true;     // false: follows shared_'s leader
    // The live policies: the leader's holds the residents, the others are empty.
    lru::state lru_{1};
    s3fifo::state s3_{1};
    w_tinylfu::state tiny_{capacity_};
    lirs::state lirs_{1};
    // In the order of `candidate`.
    detail::mini_simulations<lru, s3fifo, w_tinylfu, lirs> simulations_;
    std::uint64_t epoch_;  // sampled requests between two reviews of the lead
    // The first review comes after 5/6 of an epoch: the first leader is a default, not a
    // choice, so a policy already ahead takes over a little sooner; later reviews keep whole
    // epochs. Any first review from 0.8 to 0.875 of an epoch keeps 51 of the table's 53 cells
    // within 2 points (a whole epoch 50, 0.9 50, 0.75 50, half an epoch 48).
    std::uint64_t next_review_ = epoch_ * 5 / 6;
    std::uint64_t sampled_requests_ = 0;
    std::uint64_t switches_ = 0;
    double score_[4] = {0, 0, 0, 0};
  };
};

}  // namespace scaling
