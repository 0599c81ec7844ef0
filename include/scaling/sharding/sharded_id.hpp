// scaling/sharding/sharded_id.hpp: 64-bit ids that embed time, logical shard and a sequence
// (Instagram's and Twitter Snowflake's layouts).
//
// What it is: `scaling::sharded_id_layout` says how many bits go to milliseconds since a custom
// epoch, to the shard (or worker) and to a per-millisecond sequence; `encode`/`decode` pack and
// unpack; `scaling::sharded_id_generator` issues ids for one shard: unique, strictly increasing
// per generator, roughly time-ordered across generators, with no coordination.
//
// When to pick it: a sharded database where any row's id must say which shard holds it (so a
// lookup by id needs no directory) and sort by creation time. Instagram: 41 bits of ms (41
// years), 13 bits of logical shard (8192), 10 bits of sequence (1024 ids per shard per ms).
//
//   scaling::sharded_id_generator ids{scaling::instagram_layout, /*shard=*/1341};
//   std::uint64_t id = ids.next();
//   auto parts = scaling::decode(scaling::instagram_layout, id);   // parts.shard == 1341
//
// Clock faults, as documented behaviour: the generator never issues an id twice and never
// issues a smaller id. If the clock goes backwards it keeps stamping the last millisecond it
// saw, drawing on that millisecond's remaining sequence numbers; when a millisecond's 2^s
// sequence numbers are spent, next() waits (yielding) until the clock passes it, and
// try_next() returns std::nullopt instead of waiting.
//
// Thread safety: next() and try_next() may be called from any number of threads; the state is
// one 64-bit atomic (milliseconds and sequence) advanced by compare-and-swap.
// Complexity: O(1) per id (plus the wait when the sequence is exhausted).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include <scaling/core/clock.hpp>
#include <scaling/core/config.hpp>
#include <scaling/core/error.hpp>

namespace scaling {

struct sharded_id_layout {
  int time_bits;
  int shard_bits;
  int sequence_bits;
  // The custom epoch, in milliseconds since the Unix epoch.
  std::int64_t epoch_ms;
};

// Instagram (2011): 41 + 13 + 10 bits, epoch 2011-08-24 21:07:01.721 UTC.
inline constexpr sharded_id_layout instagram_layout{41, 13, 10, 1314220021721};
// Twitter Snowflake: 41 bits of time, 10 of worker (5 datacenter + 5 worker), 12 of sequence,
// epoch 2010-11-04 01:42:54.657 UTC; the sign bit stays 0.
inline constexpr sharded_id_layout snowflake_layout{41, 10, 12, 1288834974657};

struct decoded_id {
  std::uint64_t ms_since_epoch;  // since the layout's epoch
  std::uint64_t shard;
  std::uint64_t sequence;
  std::int64_t unix_ms;  // ms_since_epoch + epoch_ms
  friend bool operator==(const decoded_id&, const decoded_id&) = default;
};

namespace detail {
inline void check_layout(const sharded_id_layout& layout) {
  constexpr std::string_view component = "scaling::sharded_id_layout";
  if (layout.time_bits < 1 || layout.shard_bits < 0 || layout.sequence_bits < 1) {
    throw_invalid_argument(component, "bits", "must be >= 1 for time and sequence, >= 0 for shard",
                           std::to_string(layout.time_bits) + "/" +
                               std::to_string(layout.shard_bits) + "/" +
                               std::to_string(layout.sequence_bits));
  }
  if (layout.time_bits + layout.shard_bits + layout.sequence_bits > 64) {
    throw_invalid_argument(component, "bits", "must add up to at most 64",
                           layout.time_bits + layout.shard_bits + layout.sequence_bits);
  }
}
[[nodiscard]] constexpr std::uint64_t low_mask(int bits) noexcept {
  return bits >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << bits) - 1;
}
}  // namespace detail

// Packs the fields. Throws scaling::invalid_argument for a bad layout or a field that does not
// fit its bits.
[[nodiscard]] inline std::uint64_t encode(const sharded_id_layout& layout,
                                          std::uint64_t ms_since_epoch, std::uint64_t shard,
                                          std::uint64_t sequence) {
  detail::check_layout(layout);
  constexpr std::string_view component = "scaling::encode";
  if (ms_since_epoch > detail::low_mask(layout.time_bits)) {
    detail::throw_invalid_argument(component, "ms_since_epoch", "must fit the layout's time bits",
                                   ms_since_epoch);
  }
  if (shard > detail::low_mask(layout.shard_bits)) {
    detail::throw_invalid_argument(component, "shard", "must fit the layout's shard bits", shard);
  }
  if (sequence > detail::low_mask(layout.sequence_bits)) {
    detail::throw_invalid_argument(component, "sequence", "must fit the layout's sequence bits",
                                   sequence);
  }
  const int shift_shard = layout.sequence_bits;
  const int shift_time = layout.sequence_bits + layout.shard_bits;
  return (ms_since_epoch << shift_time) | (shard << shift_shard) | sequence;
}

[[nodiscard]] inline decoded_id decode(const sharded_id_layout& layout, std::uint64_t id) {
  detail::check_layout(layout);
  const int shift_time = layout.sequence_bits + layout.shard_bits;
  decoded_id out{};
  out.sequence = id & detail::low_mask(layout.sequence_bits);
  out.shard = (id >> layout.sequence_bits) & detail::low_mask(layout.shard_bits);
  out.ms_since_epoch = (id >> shift_time) & detail::low_mask(layout.time_bits);
  out.unix_ms = static_cast<std::int64_t>(out.ms_since_epoch) + layout.epoch_ms;
  return out;
}

// Issues ids for one shard. Clock: a clock_source whose epoch is the Unix epoch
// (std::chrono::system_clock by default; a manual_clock set to Unix time in tests).
template <clock_source Clock = std::chrono::system_clock>
class sharded_id_generator {
 public:
  // Throws scaling::invalid_argument for a bad layout or a shard that does not fit.
  sharded_id_generator(sharded_id_layout layout, std::uint64_t shard, Clock clock = Clock{})
      : layout_(layout), shard_(shard), clock_(std::move(clock)) {
    detail::check_layout(layout_);
    if (layout_.time_bits + layout_.sequence_bits > 63) {
      detail::throw_invalid_argument(component, "time_bits + sequence_bits", "must be <= 63",
                                     layout_.time_bits + layout_.sequence_bits);
    }
    if (shard_ > detail::low_mask(layout_.shard_bits)) {
      detail::throw_invalid_argument(component, "shard", "must fit the layout's shard bits",
                                     shard_);
    }
  }

  // The next id; waits (yielding) while this millisecond's sequence numbers are spent.
  // Throws scaling::invalid_argument when the clock is before the layout's epoch or past the
  // last millisecond the time bits can hold.
  [[nodiscard]] std::uint64_t next() {
    for (;;) {
      if (auto id = try_next()) return *id;
      std::this_thread::yield();
    }
  }

  // The next id, or std::nullopt when it would have to wait for the clock.
  [[nodiscard]] std::optional<std::uint64_t> try_next() {
    const std::uint64_t now = now_ms();
    const std::uint64_t sequence_mask = detail::low_mask(layout_.sequence_bits);
    std::uint64_t state = state_.load(std::memory_order_acquire);
    for (;;) {
      const std::uint64_t last_ms = (state & ~issued_flag()) >> layout_.sequence_bits;
      const std::uint64_t sequence = state & sequence_mask;
      std::uint64_t wanted = 0;
      if (!issued_any(state) || now > last_ms) {
        wanted = now << layout_.sequence_bits;  // a new millisecond: sequence 0
      } else if (sequence < sequence_mask) {
        wanted = state + 1;  // same (or an earlier) clock reading: next sequence number
      } else {
        return std::nullopt;  // exhausted: the clock must pass last_ms first
      }
      if (state_.compare_exchange_weak(state, wanted | issued_flag(), std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
        const std::uint64_t ms =
            (wanted >> layout_.sequence_bits) & detail::low_mask(layout_.time_bits);
        return encode_unchecked(ms, wanted & sequence_mask);
      }
    }
  }

  [[nodiscard]] const sharded_id_layout& layout() const noexcept { return layout_; }
  [[nodiscard]] std::uint64_t shard() const noexcept { return shard_; }

 private:
  static constexpr std::string_view component = "scaling::sharded_id_generator";

  // The state packs (ms << sequence_bits) | sequence in time_bits + sequence_bits <= 63 bits
  // (checked by the constructor); the top bit marks "an id was issued".
  [[nodiscard]] std::uint64_t issued_flag() const noexcept { return std::uint64_t{1} << 63; }
  [[nodiscard]] bool issued_any(std::uint64_t state) const noexcept {
    return (state & issued_flag()) != 0;
  }

  [[nodiscard]] std::uint64_t now_ms() const {
    const auto since_unix =
        std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now().time_since_epoch());
    const std::int64_t ms = since_unix.count() - layout_.epoch_ms;
    if (ms < 0) {
      detail::throw_invalid_argument(component, "clock", "must not be before the layout's epoch",
                                     ms);
    }
    const auto value = static_cast<std::uint64_t>(ms);
    if (value > detail::low_mask(layout_.time_bits)) {
      detail::throw_invalid_argument(component, "clock", "must be within the layout's time bits",
                                     value);
    }
    return value;
  }

  [[nodiscard]] std::uint64_t encode_unchecked(std::uint64_t ms, std::uint64_t sequence) const {
    const int shift_time = layout_.sequence_bits + layout_.shard_bits;
    return (ms << shift_time) | (shard_ << layout_.sequence_bits) | sequence;
  }

  sharded_id_layout layout_;
  std::uint64_t shard_;
  Clock clock_;
  alignas(cache_line_size) std::atomic<std::uint64_t> state_{0};
};

}  // namespace scaling
