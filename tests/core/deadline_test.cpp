#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include <scaling/core/deadline.hpp>

namespace {

using namespace std::chrono_literals;
using std::chrono::hours;
using std::chrono::nanoseconds;
using std::chrono::steady_clock;

TEST(SaturatingCast, ClampsHoursMaxToNanosecondsMax) {
  EXPECT_EQ(scaling::saturating_cast<nanoseconds>(hours::max()), nanoseconds::max());
  EXPECT_EQ(scaling::saturating_cast<nanoseconds>(hours::min()), nanoseconds::min());
  EXPECT_EQ(scaling::saturating_cast<nanoseconds>(3s), nanoseconds{3'000'000'000});
}

TEST(SaturatingAdd, ForeverIsTheLastTimePointNotAWrappedOne) {
  const auto now = steady_clock::now();
  EXPECT_EQ(scaling::saturating_add(now, nanoseconds::max()), steady_clock::time_point::max());
  EXPECT_EQ(scaling::saturating_add(now, hours::max()), steady_clock::time_point::max());
  EXPECT_EQ(scaling::saturating_add(now, 5s), now + 5s);
  EXPECT_EQ(scaling::saturating_add(now, -5s), now - 5s);
  EXPECT_EQ(scaling::saturating_add(steady_clock::time_point::min() + 1s, -hours::max()),
            steady_clock::time_point::min());
}

TEST(DeadlineAfter, UsesTheClockItIsGiven) {
  scaling::manual_clock clock;
  clock.advance(10s);
  EXPECT_EQ(scaling::deadline_after(clock, 2s).time_since_epoch(), 12s);
  EXPECT_EQ(scaling::deadline_after(clock, nanoseconds::max()),
            scaling::manual_clock::time_point::max());
}

TEST(WaitResult, CarriesTheValueOrTheReason) {
  scaling::wait_result<std::string> ok{std::in_place, "job"};
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok.status(), scaling::wait_status::ready);
  EXPECT_EQ(*ok, "job");
  EXPECT_EQ(ok->size(), 3U);

  scaling::wait_result<std::string> late{scaling::wait_status::timed_out};
  EXPECT_FALSE(late);
  EXPECT_TRUE(late.timed_out());
  EXPECT_FALSE(late.stopped());
  try {
    (void)late.value();
    FAIL() << "value() of an empty result must throw";
  } catch (const scaling::bad_wait_result& e) {
    EXPECT_EQ(e.status(), scaling::wait_status::timed_out);
    EXPECT_NE(std::string{e.what()}.find("timed_out"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::move(late).to_optional().has_value());
}

TEST(WaitResult, ReadyWithoutAValueIsRejected) {
  EXPECT_THROW(scaling::wait_result<int>{scaling::wait_status::ready}, std::invalid_argument);
}

TEST(WaitStatus, NamesEveryStatus) {
  EXPECT_EQ(scaling::to_string(scaling::wait_status::ready), "ready");
  EXPECT_EQ(scaling::to_string(scaling::wait_status::timed_out), "timed_out");
  EXPECT_EQ(scaling::to_string(scaling::wait_status::stopped), "stopped");
  EXPECT_EQ(scaling::to_string(scaling::wait_status::closed), "closed");
}

}  // namespace
