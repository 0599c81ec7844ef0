// scaling/caching/frequency_sketch.hpp: a count-min sketch of 4-bit counters that ages.
//
// What it is: `scaling::frequency_sketch` estimates how often each key hash was seen recently,
// in a fixed table whatever the number of keys. Four counters per key, all in one 64-byte
// block (one cache miss per query); an estimate is the minimum of the four (over-estimates
// only, through collisions). Counters saturate at 15, and after `10 x capacity` increments
// every counter is halved, so popularity that has passed fades (the TinyLFU "reset").
// When to pick it: admission decisions (w_tinylfu uses it); heavy-hitter detection. It answers
// "more or less popular than", not exact counts.
// Reference: Einziger, Friedman, Manes, "TinyLFU: A Highly Efficient Cache Admission Policy"
// (2017); the layout follows Caffeine's (a block of 8 words, 16 counters per word).
//
//   scaling::frequency_sketch sketch{10'000};
//   sketch.increment(scaling::mix64(42));
//   auto f = sketch.frequency(scaling::mix64(42));   // 1
//
// Thread safety: none (the owning cache segment serialises). Complexity: O(1) per call; the
// periodic halving is O(table) once every 10 x capacity increments, O(1) amortised.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <scaling/core/hash.hpp>

namespace scaling {

class frequency_sketch {
 public:
  // capacity: the number of entries the cache holds (at least 1); sizes the table to the next
  // power of two words >= capacity (at most 2^24 words, 128 MiB would be pointless).
  explicit frequency_sketch(std::size_t capacity)
      : table_(std::max<std::size_t>(
            8, std::bit_ceil(std::clamp<std::size_t>(capacity, 1, std::size_t{1} << 24)))),
        block_mask_((table_.size() >> 3) - 1),
        sample_size_(10 * std::max<std::uint64_t>(1, capacity)) {}

  // The estimated count of `hash` (0..15).
  [[nodiscard]] unsigned frequency(std::uint64_t hash) const noexcept {
    const auto [block, counter_hash] = locate(hash);
    unsigned lowest = 15;
    for (unsigned i = 0; i < 4; ++i) {
      const auto [word, shift] = position(block, counter_hash, i);
      lowest = std::min(lowest, static_cast<unsigned>((table_[word] >> shift) & 0xfu));
    }
    return lowest;
  }

  // Counts one occurrence of `hash`; may trigger the periodic halving.
  void increment(std::uint64_t hash) noexcept { add(hash, 1); }

  // Counts `count` occurrences of `hash` at once (each counter saturating at 15), as `count`
  // increments would with no halving between them; may trigger the periodic halving.
  void add(std::uint64_t hash, unsigned count) noexcept {
    if (count == 0) return;
    const auto [block, counter_hash] = locate(hash);
    unsigned added = 0;
    for (unsigned i = 0; i < 4; ++i) {
      const auto [word, shift] = position(block, counter_hash, i);
      const auto current = static_cast<unsigned>((table_[word] >> shift) & 0xfu);
      const unsigned step = std::min(count, 15u - current);
      table_[word] += static_cast<std::uint64_t>(step) << shift;
      added = std::max(added, step);
    }
    additions_ += added;
    if (added != 0 && additions_ >= sample_size_) halve();
  }

  // Increments counted since the last halving (the halving comes at sample_size()).
  [[nodiscard]] std::uint64_t additions() const noexcept { return additions_; }

  // Increments between two halvings (10 x capacity).
  [[nodiscard]] std::uint64_t sample_size() const noexcept { return sample_size_; }

  // Halves every counter now (the periodic ageing, for an owner that keeps counts of its own
  // outside the sketch and ages them together). O(table).
  void halve() noexcept {
    std::uint64_t odd = 0;
    for (auto& word : table_) {
      odd += odd_counters(word);
      word = (word >> 1) & 0x7777777777777777ULL;
    }
    // Each key owns 4 counters: the odd counters lost half a unit each.
    additions_ = (additions_ - odd / 4) / 2;
    ++halvings_;
  }

  // How many halvings so far (periodic or asked for): an owner that ages counts of its own
  // with the sketch compares it to tell whether an add() just halved.
  [[nodiscard]] std::uint64_t halvings() const noexcept { return halvings_; }

  void clear() noexcept {
    std::fill(table_.begin(), table_.end(), 0);
    additions_ = 0;
  }

 private:
  struct located {
    std::size_t block;
    std::uint64_t counter_hash;
  };
  struct counter_position {
    std::size_t word;
    unsigned shift;
  };

  [[nodiscard]] located locate(std::uint64_t hash) const noexcept {
    // The caller's hash may be weak in its low bits (an identity hash): spread it first, and
    // derive the counter choices from a second, independent mix.
    const std::uint64_t block_hash = mix64(hash);
    return {static_cast<std::size_t>(block_hash & block_mask_) << 3, mix64(block_hash + 1)};
  }
  // Counter i lives in word 2i or 2i+1 of the block, at one of 16 nibbles.
  [[nodiscard]] static counter_position position(std::size_t block, std::uint64_t counter_hash,
                                                 unsigned i) noexcept {
    const std::uint64_t bits = counter_hash >> (i * 8);
    return {block + 2 * i + static_cast<std::size_t>(bits & 1u),
            static_cast<unsigned>(((bits >> 1) & 0xfu) * 4)};
  }

  // How many of the word's 16 counters are odd: a popcount of their low bits, by adding
  // them in bytes (std::popcount is a library call on x86-64 unless the build targets POPCNT).
  [[nodiscard]] static std::uint64_t odd_counters(std::uint64_t word) noexcept {
    std::uint64_t bits = word & 0x1111111111111111ULL;    // one bit per nibble
    bits = (bits + (bits >> 4)) & 0x0f0f0f0f0f0f0f0fULL;  // 0..2 per byte
    return (bits * 0x0101010101010101ULL) >> 56;          // their sum, 0..16
  }

  std::vector<std::uint64_t> table_;
  std::size_t block_mask_;
  std::uint64_t sample_size_;
  std::uint64_t additions_ = 0;
  std::uint64_t halvings_ = 0;
};

}  // namespace scaling
