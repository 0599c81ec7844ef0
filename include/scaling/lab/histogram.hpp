// scaling/lab/histogram.hpp: a latency histogram with bounded relative error and fixed memory.
//
// What it is: `lab::histogram` records non-negative durations in log-linear buckets (the
// layout of HdrHistogram: each power of two split into 128 linear sub-buckets), so a
// percentile is exact to within 1/128 (0.8%) of its value at any scale from 1 ns to 292
// years, in a fixed 58 KB, however many values are recorded. The mean, minimum and maximum
// are exact.
//
// When to pick it: for the p50 / p99 / p99.9 of a run with millions of requests, where keeping
// every sample would grow memory with the run. Not when exact order statistics are needed.
//
//   scaling::lab::histogram h;
//   h.record(std::chrono::microseconds{250});
//   auto p99 = h.percentile(0.99);     // a duration within 0.8% of the true p99
//
// Thread safety: none; one histogram per thread, merge() to combine.
// Complexity: record O(1); percentile O(buckets) = O(64 x 128).
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>

#include "scaling/core/error.hpp"

namespace scaling::lab {

class histogram {
 public:
  using duration = std::chrono::nanoseconds;
  static constexpr unsigned sub_bucket_bits = 7;  // 128 sub-buckets: relative error <= 1/128
  static constexpr std::uint64_t sub_buckets = std::uint64_t{1} << sub_bucket_bits;

  // Records `d`; a negative duration counts as 0 (a clock that stepped back).
  void record(duration d) noexcept {
    record_ns(d.count() < 0 ? 0 : static_cast<std::uint64_t>(d.count()));
  }
  void record_ns(std::uint64_t ns) noexcept {
    ++counts_[index_of(ns)];
    ++count_;
    sum_ += static_cast<long double>(ns);
    min_ = std::min(min_, ns);
    max_ = std::max(max_, ns);
  }

  // Adds every value recorded in `other`.
  void merge(const histogram& other) noexcept {
    for (std::size_t i = 0; i < counts_.size(); ++i)
      counts_[i] += other.counts_[i];
    count_ += other.count_;
    sum_ += other.sum_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
  }

  void reset() noexcept { *this = histogram{}; }

  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
  // Exact mean (0 when empty).
  [[nodiscard]] double mean_ns() const noexcept {
    return count_ == 0 ? 0.0 : static_cast<double>(sum_ / static_cast<long double>(count_));
  }
  [[nodiscard]] duration min() const noexcept {
    return duration{count_ == 0 ? 0 : static_cast<duration::rep>(min_)};
  }
  [[nodiscard]] duration max() const noexcept { return duration{static_cast<duration::rep>(max_)}; }

  // The smallest recorded value v such that at least q of the values are <= v, reported as
  // the upper edge of its bucket, clamped to the exact maximum (0 when empty).
  // Throws scaling::invalid_argument if q is not in [0, 1].
  [[nodiscard]] duration percentile(double q) const {
    if (!(q >= 0.0 && q <= 1.0))
      detail::throw_invalid_argument("scaling::lab::histogram::percentile", "q",
                                     "must be in [0, 1]", q);
    if (count_ == 0) return duration::zero();
    const auto rank = std::max<std::uint64_t>(
        1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_))));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        const std::uint64_t edge = std::min(upper_edge(i), max_);
        return duration{static_cast<duration::rep>(std::max(edge, min_))};
      }
    }
    return max();
  }

 private:
  // Values below 2 * sub_buckets land in linear buckets of width 1; above, each power of two
  // [2^k, 2^(k+1)) has sub_buckets / 2 ... buckets of width 2^(k - sub_bucket_bits).
  static std::size_t index_of(std::uint64_t v) noexcept {
    if (v < sub_buckets) return static_cast<std::size_t>(v);
    const unsigned top = 63U - static_cast<unsigned>(std::countl_zero(v));  // floor(log2 v)
    const unsigned shift = top - sub_bucket_bits;
    const std::uint64_t sub = (v >> shift) - sub_buckets;  // in [0, sub_buckets)
    return static_cast<std::size_t>(sub_buckets + (shift * sub_buckets) + sub);
  }
  static std::uint64_t upper_edge(std::size_t index) noexcept {
    if (index < sub_buckets) return index;
    const std::uint64_t shift = (index - sub_buckets) / sub_buckets;
    const std::uint64_t sub = (index - sub_buckets) % sub_buckets;
    const std::uint64_t low = (sub_buckets + sub) << shift;
    const std::uint64_t width = std::uint64_t{1} << shift;
    return low + (width - 1);
  }

  static constexpr std::size_t bucket_count = sub_buckets + (64 - sub_bucket_bits) * sub_buckets;
  std::array<std::uint64_t, bucket_count> counts_{};
  std::uint64_t count_ = 0;
  long double sum_ = 0;
  std::uint64_t min_ = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t max_ = 0;
};

}  // namespace scaling::lab
