// scaling/advisor/shard_model.hpp: how many shards the write load and the data need, and when
// a layout runs out as the data grows.
//
// What it is:
//   - `shards_for_writes`: ceil(writes / (per-primary durable write rate x utilization
//     target)): each shard has one primary that takes its writes;
//   - `compound_growth`, `shards_for_data`: data grows by a fixed fraction per month,
//     D(m) = D0 (1 + g)^m; the shards needed to hold D(horizon) at a fill target;
//   - `layout_runway`: for a layout of S shards, the months until the data fills it,
//     m = ln(S x capacity x fill / D0) / ln(1 + g), and the multiple of today's write load it
//     still absorbs, S x rate x utilization / writes;
//   - `months_after`: turns months of runway into a calendar date.
//
// When to pick it: to decide whether a workload needs sharding at all, and how much runway a
// given number of shards buys. Assumptions: the shard key spreads writes and bytes evenly
// (a hot key or a celebrity account breaks this: sharding/bounded_load.hpp and the key choice
// in docs/patterns/sharding.md); growth is compound at a steady monthly rate.
//
//   auto s = scaling::advisor::shards_for_writes(12'000, 5'000, 0.7);          // 4
//   auto r = scaling::advisor::layout_runway(4, 1e12, 0.05, 2e12, 0.7, 12'000, 5'000, 0.7);
//   // r.months: until 4 x 2 TB x 0.7 is full at 5% a month; r.load_multiple: 1.17
//
// Thread safety: pure functions. Complexity: O(1).
#pragma once

#include <chrono>
#include <cmath>
#include <cstddef>
#include <limits>

#include "scaling/core/error.hpp"

namespace scaling::advisor {

namespace detail {
inline void check_positive(const char* who, const char* what, double v) {
  if (!(v > 0.0) || !std::isfinite(v))
    scaling::detail::throw_invalid_argument(who, what, "must be a finite number > 0", v);
}
inline void check_non_negative(const char* who, const char* what, double v) {
  if (!(v >= 0.0) || !std::isfinite(v))
    scaling::detail::throw_invalid_argument(who, what, "must be a finite number >= 0", v);
}
inline void check_fraction(const char* who, const char* what, double v) {
  if (!(v > 0.0 && v <= 1.0))
    scaling::detail::throw_invalid_argument(who, what, "must be in (0, 1]", v);
}
inline std::size_t at_least_one(double need) {
  return static_cast<std::size_t>(std::max(1.0, std::ceil(need - 1e-9)));
}
}  // namespace detail

// Shards whose primaries carry `writes_per_s` at `utilization_target` of
// `primary_write_rate` each.
// Throws: scaling::invalid_argument for a negative or non-finite load, a rate <= 0, or a
// target outside (0, 1].
[[nodiscard]] inline std::size_t shards_for_writes(double writes_per_s, double primary_write_rate,
                                                   double utilization_target) {
  constexpr auto who = "scaling::advisor::shards_for_writes";
  detail::check_non_negative(who, "writes_per_s", writes_per_s);
  detail::check_positive(who, "primary_write_rate", primary_write_rate);
  detail::check_fraction(who, "utilization_target", utilization_target);
  return detail::at_least_one(writes_per_s / (primary_write_rate * utilization_target));
}

// D0 (1 + g)^months.
[[nodiscard]] inline double compound_growth(double size, double monthly_growth, double months) {
  return size * std::pow(1.0 + monthly_growth, months);
}

// Shards that hold the data after `horizon_months` of compound growth at `fill_target` of
// `node_capacity` bytes each.
// Throws: scaling::invalid_argument for negative sizes, growth or horizon, a capacity <= 0,
// or a fill target outside (0, 1].
[[nodiscard]] inline std::size_t shards_for_data(double data_bytes, double monthly_growth,
                                                 double horizon_months, double node_capacity,
                                                 double fill_target) {
  constexpr auto who = "scaling::advisor::shards_for_data";
  detail::check_non_negative(who, "data_bytes", data_bytes);
  detail::check_non_negative(who, "monthly_growth", monthly_growth);
  detail::check_non_negative(who, "horizon_months", horizon_months);
  detail::check_positive(who, "node_capacity", node_capacity);
  detail::check_fraction(who, "fill_target", fill_target);
  return detail::at_least_one(compound_growth(data_bytes, monthly_growth, horizon_months) /
                              (node_capacity * fill_target));
}

// How long, and how much more load, a layout of `shards` absorbs.
struct runway {
  double months = 0;         // until the data reaches the fill target (infinity: never)
  double load_multiple = 0;  // today's writes x this = what the primaries carry at target
};

// Throws: as shards_for_data and shards_for_writes, and if shards == 0.
[[nodiscard]] inline runway layout_runway(std::size_t shards, double data_bytes,
                                          double monthly_growth, double node_capacity,
                                          double fill_target, double writes_per_s,
                                          double primary_write_rate, double utilization_target) {
  constexpr auto who = "scaling::advisor::layout_runway";
  if (shards == 0) scaling::detail::throw_invalid_argument(who, "shards", "must be >= 1", shards);
  detail::check_non_negative(who, "data_bytes", data_bytes);
  detail::check_non_negative(who, "monthly_growth", monthly_growth);
  detail::check_positive(who, "node_capacity", node_capacity);
  detail::check_fraction(who, "fill_target", fill_target);
  detail::check_non_negative(who, "writes_per_s", writes_per_s);
  detail::check_positive(who, "primary_write_rate", primary_write_rate);
  detail::check_fraction(who, "utilization_target", utilization_target);
  const double s = static_cast<double>(shards);
  const double room = s * node_capacity * fill_target;
  runway r;
  constexpr double inf = std::numeric_limits<double>::infinity();
  if (data_bytes >= room) {
    r.months = 0;
  } else if (data_bytes == 0.0 || monthly_growth == 0.0) {
    r.months = inf;
  } else {
    r.months = std::log(room / data_bytes) / std::log1p(monthly_growth);
  }
  const double carry = s * primary_write_rate * utilization_target;
  r.load_multiple = writes_per_s > 0 ? carry / writes_per_s : inf;
  return r;
}

// The day `months` (fractional) after `start`, with a month of 365.2425 / 12 days.
[[nodiscard]] inline std::chrono::sys_days months_after(std::chrono::sys_days start,
                                                        double months) {
  const double days = months * 365.2425 / 12.0;
  return start + std::chrono::days{static_cast<long>(std::floor(days))};
}

}  // namespace scaling::advisor
