// scaling/replication/health.hpp: outlier ejection, panic mode and an outstanding-request cap.
//
// What it is: `outlier_detection`, the settings, and `outlier_detector`, the per-replica
// bookkeeping behind them, modelled on Envoy's outlier detection: after
// `consecutive_failures` failed reads in a row a replica is ejected for
// base_ejection_time x (number of times it has been ejected), capped at max_ejection_time,
// and returns on its own when that time is up. No more than max_ejection_percent of the set is
// ejected at once (but at least one may be). When fewer than panic_threshold_percent of the
// members are usable the set is "in panic" and the selector routes to every member, healthy or
// not, as Envoy does: overloading a few survivors would take them down too.
//
// When to pick it: it is built into replica_selector (configure it through
// replica_selector_options::health); use the detector alone to add ejection to another router.
//
//   scaling::manual_clock clock;
//   scaling::outlier_detector<scaling::manual_clock> health{3, {.consecutive_failures = 2}, clock};
//   health.record(0, scaling::read_outcome::failure);
//   health.record(0, scaling::read_outcome::failure);  // replica 0 is ejected for 30 s
//   clock.advance(std::chrono::seconds{30});           // ... and usable again
//
// Thread safety: none; replica_selector calls it under its own lock.
// Complexity: record() O(n) only when a failure crosses the threshold (it counts ejected
// members), O(1) otherwise; ejected() and in_panic() O(1); ejected_count() O(n).
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <scaling/core/clock.hpp>
#include <scaling/core/config.hpp>
#include <scaling/core/error.hpp>
#include <scaling/replication/replica.hpp>

namespace scaling {

// Outlier-ejection and panic settings; the defaults are Envoy's.
struct outlier_detection {
  // Failed reads in a row that eject a replica; 0 turns ejection off.
  std::uint32_t consecutive_failures = 5;
  // The first ejection lasts this long, the n-th n times as long ...
  std::chrono::nanoseconds base_ejection_time = std::chrono::seconds{30};
  // ... but never longer than this.
  std::chrono::nanoseconds max_ejection_time = std::chrono::seconds{300};
  // At most this share of the members is ejected at once; at least one always may be.
  double max_ejection_percent = 10.0;
  // Below this share of usable members the set is in panic and reads go to every member.
  // 0 turns panic mode off.
  double panic_threshold_percent = 50.0;
  // A member with this many reads in flight takes no more (0 = no cap).
  std::uint32_t max_outstanding = 0;

  // Throws scaling::invalid_argument naming the first bad setting.
  void validate(std::string_view component) const {
    if (base_ejection_time <= std::chrono::nanoseconds::zero()) {
      detail::throw_invalid_argument(component, "health.base_ejection_time", "must be > 0 ns",
                                     base_ejection_time.count());
    }
    if (max_ejection_time < base_ejection_time) {
      detail::throw_invalid_argument(component, "health.max_ejection_time",
                                     "must be >= base_ejection_time (ns)",
                                     max_ejection_time.count());
    }
    if (!(max_ejection_percent >= 0.0 && max_ejection_percent <= 100.0)) {
      detail::throw_invalid_argument(component, "health.max_ejection_percent",
                                     "must be in [0, 100]", max_ejection_percent);
    }
    if (!(panic_threshold_percent >= 0.0 && panic_threshold_percent <= 100.0)) {
      detail::throw_invalid_argument(component, "health.panic_threshold_percent",
                                     "must be in [0, 100]", panic_threshold_percent);
    }
  }
};

// Per-replica failure bookkeeping for a fixed-size set of members (indices 0..size-1).
template <clock_source Clock = std::chrono::steady_clock>
class outlier_detector {
 public:
  using time_point = typename Clock::time_point;
  using duration = typename Clock::duration;

  // Tracks `members` members (>= 1). Throws scaling::invalid_argument on bad settings.
  outlier_detector(std::size_t members, outlier_detection settings, Clock clock = Clock{})
      : settings_(settings), clock_(clock), members_(members) {
    if (members == 0) {
      detail::throw_invalid_argument("scaling::outlier_detector", "members", "must be >= 1",
                                     members);
    }
    settings_.validate("scaling::outlier_detector");
  }

  // Records a finished read on member `i`. Returns true when this failure ejected it.
  // Precondition: i < size().
  bool record(std::size_t i, read_outcome outcome) {
    SCALING_ASSERT(i < members_.size(), "member index out of range");
    member& m = members_[i];
    if (outcome == read_outcome::success) {
      m.consecutive_failures = 0;
      return false;
    }
    if (outcome == read_outcome::cancelled) return false;
    ++m.consecutive_failures;
    if (settings_.consecutive_failures == 0 ||
        m.consecutive_failures < settings_.consecutive_failures) {
      return false;
    }
    const time_point now = clock_.now();
    if (is_ejected(m, now)) return false;  // already out: a late answer from before
    if (ejected_count(now) + 1 > max_ejected()) return false;  // keep enough members in
    ++m.ejections;
    const auto base = std::chrono::duration_cast<duration>(settings_.base_ejection_time);
    const auto cap = std::chrono::duration_cast<duration>(settings_.max_ejection_time);
    // base x ejections, capped; compared by division first so the product cannot overflow.
    const duration length = static_cast<std::int64_t>(m.ejections) > cap / base
                                ? cap
                                : std::min(cap, base * m.ejections);
    m.ejected_until = now + length;
    m.consecutive_failures = 0;
    ++total_ejections_;
    return true;
  }

  // Whether member `i` is ejected now.
  [[nodiscard]] bool ejected(std::size_t i) const { return ejected(i, clock_.now()); }
  // Whether member `i` is ejected at `now` (lets a caller scanning many members read the clock
  // once).
  [[nodiscard]] bool ejected(std::size_t i, time_point now) const {
    SCALING_ASSERT(i < members_.size(), "member index out of range");
    return is_ejected(members_[i], now);
  }
  // Time until member `i` returns (zero when it is not ejected).
  [[nodiscard]] duration ejected_for(std::size_t i) const {
    const time_point now = clock_.now();
    const member& m = members_[i];
    return is_ejected(m, now) ? m.ejected_until - now : duration::zero();
  }
  [[nodiscard]] std::uint32_t ejections(std::size_t i) const { return members_[i].ejections; }
  [[nodiscard]] std::uint32_t consecutive_failures(std::size_t i) const {
    return members_[i].consecutive_failures;
  }

  // Members ejected now.
  [[nodiscard]] std::size_t ejected_count() const { return ejected_count(clock_.now()); }

  // The most members that may be ejected at once: max_ejection_percent of the set, at least 1.
  [[nodiscard]] std::size_t max_ejected() const noexcept {
    const auto share = static_cast<std::size_t>(
        std::floor(settings_.max_ejection_percent * static_cast<double>(members_.size()) / 100.0));
    return std::max<std::size_t>(1, share);
  }

  // True when fewer than panic_threshold_percent of the members are usable (`usable` counts
  // the members that are up and not ejected; the caller knows which are up).
  [[nodiscard]] bool in_panic(std::size_t usable) const noexcept {
    return static_cast<double>(usable) * 100.0 <
           settings_.panic_threshold_percent * static_cast<double>(members_.size());
  }

  // Forgets the failure history of member `i` (a replaced server).
  void reset(std::size_t i) { members_[i] = member{}; }

  [[nodiscard]] std::size_t size() const noexcept { return members_.size(); }
  [[nodiscard]] std::uint64_t total_ejections() const noexcept { return total_ejections_; }
  [[nodiscard]] const outlier_detection& settings() const noexcept { return settings_; }

 private:
  struct member {
    std::uint32_t consecutive_failures = 0;
    std::uint32_t ejections = 0;
    time_point ejected_until{};
  };

  static bool is_ejected(const member& m, time_point now) noexcept {
    return m.ejections > 0 && now < m.ejected_until;
  }

  std::size_t ejected_count(time_point now) const {
    return static_cast<std::size_t>(std::count_if(
        members_.begin(), members_.end(), [now](const member& m) { return is_ejected(m, now); }));
  }

  outlier_detection settings_;
  [[no_unique_address]] Clock clock_;
  std::vector<member> members_;
  std::uint64_t total_ejections_ = 0;
};

}  // namespace scaling
