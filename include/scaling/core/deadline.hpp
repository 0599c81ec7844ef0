// scaling/core/deadline.hpp: deadlines that never overflow, and the result of a bounded wait.
//
// What it is: the one vocabulary every blocking call of the library uses when it is given a
// deadline. `saturating_add` adds a duration to a time point and clamps at the clock's range,
// so "wait forever" (`nanoseconds::max()`, `hours::max()`) is a deadline in the far future
// instead of a signed overflow. `deadline_after` is that sum taken from a clock's now().
// A bounded wait returns a `wait_status` (ready, timed_out, stopped, closed), or a
// `wait_result<T>` that carries the value when there is one.
//
// When to pick it: in your own code that wraps the library's `*_for` / `*_until` calls, and
// anywhere a user-supplied timeout is added to a time point.
//
//   auto deadline = scaling::deadline_after(std::chrono::steady_clock{},
//   std::chrono::hours::max()); scaling::wait_result<job> r =
//   jobs.pop_for(std::chrono::milliseconds{50}); if (r) run(*r); else if (r.status() ==
//   scaling::wait_status::timed_out) log_idle();
//
// Thread safety: free functions are pure; a wait_result is a value type.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "scaling/core/clock.hpp"

namespace scaling {

// `d` converted to `To`, clamped to To's range instead of overflowing (a conversion of
// hours::max() to nanoseconds is the case this exists for).
template <class To, class Rep, class Period>
[[nodiscard]] constexpr To saturating_cast(std::chrono::duration<Rep, Period> d) noexcept {
  using common = std::common_type_t<std::chrono::duration<long double>, To>;
  const auto wide = std::chrono::duration_cast<common>(
      std::chrono::duration<long double, Period>{static_cast<long double>(d.count())});
  if (wide >= std::chrono::duration_cast<common>(To::max())) return To::max();
  if (wide <= std::chrono::duration_cast<common>(To::min())) return To::min();
  return std::chrono::duration_cast<To>(d);
}

// `t + d`, clamped to the time point's range: a deadline far enough away is
// time_point::max(), never a wrapped-around time in the past.
template <class Clock, class Duration, class Rep, class Period>
[[nodiscard]] constexpr std::chrono::time_point<Clock, Duration> saturating_add(
    std::chrono::time_point<Clock, Duration> t, std::chrono::duration<Rep, Period> d) noexcept {
  using time_point = std::chrono::time_point<Clock, Duration>;
  const Duration step = saturating_cast<Duration>(d);
  const auto since = t.time_since_epoch();
  if (step > Duration::zero() && since > Duration::max() - step) return time_point::max();
  if (step < Duration::zero() && since < Duration::min() - step) return time_point::min();
  return t + step;
}

// The deadline `timeout` from now on `clock`, saturated (see saturating_add).
template <clock_source Clock, class Rep, class Period>
[[nodiscard]] typename Clock::time_point deadline_after(
    const Clock& clock,
    std::chrono::duration<Rep, Period> timeout) noexcept(noexcept(clock.now())) {
  return saturating_add(clock.now(), timeout);
}

// How a bounded wait ended.
enum class wait_status : std::uint8_t {
  ready,      // the operation completed (a value was taken, a message was sent)
  timed_out,  // the deadline passed first
  stopped,    // the caller's std::stop_token was triggered first
  closed,     // the component was closed, and (for takes) drained, before it could complete
};

[[nodiscard]] constexpr std::string_view to_string(wait_status s) noexcept {
  switch (s) {
    case wait_status::ready:
      return "ready";
    case wait_status::timed_out:
      return "timed_out";
    case wait_status::stopped:
      return "stopped";
    case wait_status::closed:
      return "closed";
  }
  return "unknown";
}

// Thrown by wait_result::value() when there is no value; says why the wait ended.
class bad_wait_result : public std::logic_error {
 public:
  explicit bad_wait_result(wait_status s)
      : std::logic_error(std::string{"scaling::wait_result: no value (the wait ended "} +
                         std::string{to_string(s)} + ")"),
        status_(s) {}
  [[nodiscard]] wait_status status() const noexcept { return status_; }

 private:
  wait_status status_;
};

// The outcome of a bounded wait that produces a value: the value when status() is ready,
// otherwise the reason there is none. Like std::optional, plus the reason.
template <class T>
class wait_result {
 public:
  using value_type = T;

  // A result with a value (status ready).
  template <class... Args>
  requires std::is_constructible_v<T, Args&&...>
  explicit wait_result(std::in_place_t, Args&&... args)
      : value_(std::in_place, std::forward<Args>(args)...), status_(wait_status::ready) {}
  // A result without a value. Precondition: s != ready (checked: ready becomes closed would be
  // a lie, so it throws std::invalid_argument).
  explicit wait_result(wait_status s) : status_(s) {
    if (s == wait_status::ready)
      throw std::invalid_argument("scaling::wait_result: status must not be ready without a value");
  }

  [[nodiscard]] wait_status status() const noexcept { return status_; }
  [[nodiscard]] bool has_value() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return has_value(); }
  [[nodiscard]] bool timed_out() const noexcept { return status_ == wait_status::timed_out; }
  [[nodiscard]] bool stopped() const noexcept { return status_ == wait_status::stopped; }
  [[nodiscard]] bool closed() const noexcept { return status_ == wait_status::closed; }

  // Precondition: has_value() (unchecked, as std::optional's operator*).
  [[nodiscard]] T& operator*() & noexcept { return *value_; }
  [[nodiscard]] const T& operator*() const& noexcept { return *value_; }
  [[nodiscard]] T&& operator*() && noexcept { return std::move(*value_); }
  [[nodiscard]] T* operator->() noexcept { return &*value_; }
  [[nodiscard]] const T* operator->() const noexcept { return &*value_; }

  // The value. Throws: bad_wait_result (naming the status) when there is none.
  [[nodiscard]] T& value() & {
    if (!value_) throw bad_wait_result(status_);
    return *value_;
  }
  [[nodiscard]] const T& value() const& {
    if (!value_) throw bad_wait_result(status_);
    return *value_;
  }
  [[nodiscard]] T&& value() && {
    if (!value_) throw bad_wait_result(status_);
    return std::move(*value_);
  }

  // The value as a std::optional (empty unless ready), for code written against optional.
  [[nodiscard]] std::optional<T> to_optional() && { return std::move(value_); }

 private:
  std::optional<T> value_;
  wait_status status_;
};

}  // namespace scaling
