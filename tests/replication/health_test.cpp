#include <chrono>
#include <stdexcept>

#include <gtest/gtest.h>

#include <scaling/core/clock.hpp>
#include <scaling/replication/health.hpp>

namespace {

using namespace std::chrono_literals;
using scaling::read_outcome;
using detector = scaling::outlier_detector<scaling::manual_clock>;

scaling::outlier_detection settings(std::uint32_t failures, double max_percent = 100.0) {
  scaling::outlier_detection s;
  s.consecutive_failures = failures;
  s.max_ejection_percent = max_percent;
  return s;
}

void fail(detector& d, std::size_t i, int times) {
  for (int k = 0; k < times; ++k)
    d.record(i, read_outcome::failure);
}

TEST(OutlierDetector, EjectsAfterConsecutiveFailuresAndReturnsAfterBaseTime) {
  scaling::manual_clock clock;
  detector d{4, settings(3), clock};
  fail(d, 0, 2);
  EXPECT_FALSE(d.ejected(0));
  EXPECT_TRUE(d.record(0, read_outcome::failure));
  EXPECT_TRUE(d.ejected(0));
  EXPECT_EQ(d.ejected_for(0), 30s);
  clock.advance(29s);
  EXPECT_TRUE(d.ejected(0));
  clock.advance(1s);
  EXPECT_FALSE(d.ejected(0));
  EXPECT_EQ(d.total_ejections(), 1u);
}

TEST(OutlierDetector, ASuccessResetsTheStreakAndCancellationsDontCount) {
  scaling::manual_clock clock;
  detector d{2, settings(3), clock};
  fail(d, 1, 2);
  d.record(1, read_outcome::success);
  fail(d, 1, 2);
  d.record(1, read_outcome::cancelled);
  EXPECT_FALSE(d.ejected(1));
  EXPECT_EQ(d.consecutive_failures(1), 2u);
  EXPECT_TRUE(d.record(1, read_outcome::failure));
}

TEST(OutlierDetector, EjectionTimeGrowsWithEachEjectionUpToTheCap) {
  scaling::manual_clock clock;
  auto s = settings(1);
  s.base_ejection_time = 30s;
  s.max_ejection_time = 100s;
  detector d{3, s, clock};
  const std::chrono::seconds expected[] = {30s, 60s, 90s, 100s, 100s};
  for (auto length : expected) {
    ASSERT_TRUE(d.record(2, read_outcome::failure));
    EXPECT_EQ(d.ejected_for(2), length);
    clock.advance(length);
    EXPECT_FALSE(d.ejected(2));
  }
  EXPECT_EQ(d.ejections(2), 5u);
}

TEST(OutlierDetector, MaxEjectionPercentKeepsMembersInButAlwaysAllowsOne) {
  scaling::manual_clock clock;
  detector d{10, settings(1, 10.0), clock};  // 10% of 10 = 1 at a time
  EXPECT_EQ(d.max_ejected(), 1u);
  EXPECT_TRUE(d.record(0, read_outcome::failure));
  EXPECT_FALSE(d.record(1, read_outcome::failure));
  EXPECT_FALSE(d.ejected(1));
  clock.advance(30s);  // 0 returns, so 1 may go
  EXPECT_TRUE(d.record(1, read_outcome::failure));

  detector small{3, settings(1, 10.0), clock};  // 10% of 3 rounds to 0, but one may go
  EXPECT_EQ(small.max_ejected(), 1u);
  EXPECT_TRUE(small.record(2, read_outcome::failure));
}

TEST(OutlierDetector, PanicBelowThreshold) {
  scaling::manual_clock clock;
  detector d{10, settings(5), clock};  // default panic threshold: 50%
  EXPECT_FALSE(d.in_panic(10));
  EXPECT_FALSE(d.in_panic(5));
  EXPECT_TRUE(d.in_panic(4));
}

TEST(OutlierDetector, RejectsBadSettings) {
  scaling::manual_clock clock;
  EXPECT_THROW((detector{0, {}, clock}), std::invalid_argument);
  auto s = settings(1);
  s.base_ejection_time = 0s;
  EXPECT_THROW((detector{2, s, clock}), std::invalid_argument);
  s = settings(1);
  s.max_ejection_time = 1s;
  EXPECT_THROW((detector{2, s, clock}), std::invalid_argument);
  s = settings(1, 150.0);
  EXPECT_THROW((detector{2, s, clock}), std::invalid_argument);
  s = settings(1);
  s.panic_threshold_percent = -1;
  try {
    detector bad{2, s, clock};
    FAIL();
  } catch (const scaling::invalid_argument& e) {
    EXPECT_EQ(e.parameter(), "health.panic_threshold_percent");
  }
}

}  // namespace
