// replica_selector's bounded waits for a fresh replica: "forever" durations block until a
// replica catches up (reported from another thread), and never overflow into an immediate
// timeout. No test depends on timing: the reporter waits until the selector has counted the
// waiter's first, failed attempt (made under the lock the wait then releases).
#include <chrono>
#include <cstdint>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/replication/replica_selector.hpp>

namespace {

using namespace std::chrono_literals;
using scaling::replica_role;

struct db_endpoint {
  std::string id;
  replica_role role = replica_role::replica;
};

using selector = scaling::replica_selector<db_endpoint, scaling::round_robin>;

std::vector<db_endpoint> primary_and_two() {
  return {{"primary", replica_role::primary}, {"r1"}, {"r2"}};
}

// Reports r2 caught up to `position` once `waiters` failed attempts have been counted.
std::thread catch_up_after(selector& s, std::uint64_t waiters, scaling::log_position position) {
  return std::thread([&s, waiters, position] {
    while (s.stats().no_fresh_replica < waiters)
      std::this_thread::yield();
    s.report_replication("r2", position);
  });
}

template <class Duration>
void expect_waits_for_the_replica(Duration forever) {
  selector s{primary_and_two()};
  scaling::read_session session;
  session.record_write(s.token(10));
  std::thread reporter = catch_up_after(s, 1, 10);
  auto t = s.select_wait(session, {}, forever);
  reporter.join();
  ASSERT_TRUE(t);
  EXPECT_EQ(t.id(), "r2");  // not the primary: the wait did not time out at once
  EXPECT_EQ(s.stats().primary_fallbacks, 0U);
}

TEST(SelectWait, NanosecondsMaxWaitsUntilAReplicaCatchesUp) {
  expect_waits_for_the_replica(std::chrono::nanoseconds::max());
}

TEST(SelectWait, HoursMaxWaitsUntilAReplicaCatchesUp) {
  expect_waits_for_the_replica(std::chrono::hours::max());
}

TEST(SelectWait, SelectWaitForForeverReturnsTheCaughtUpReplica) {
  for (int forever = 0; forever < 2; ++forever) {
    selector s{primary_and_two()};
    scaling::read_session session;
    session.record_write(s.token(10));
    std::thread reporter = catch_up_after(s, 1, 10);
    auto r = forever == 0 ? s.select_wait_for(session, {}, std::chrono::nanoseconds::max())
                          : s.select_wait_for(session, {}, std::chrono::hours::max());
    reporter.join();
    ASSERT_EQ(r.status(), scaling::wait_status::ready);
    EXPECT_EQ(r->id(), "r2");
    r->complete(scaling::read_outcome::success);
  }
}

TEST(SelectWait, SelectWaitUntilTheEndOfTimeWaits) {
  selector s{primary_and_two()};
  scaling::read_session session;
  session.record_write(s.token(7));
  std::thread reporter = catch_up_after(s, 1, 7);
  auto r = s.select_wait_until(session, {}, std::chrono::steady_clock::time_point::max());
  reporter.join();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->id(), "r2");
}

TEST(SelectWait, APastDeadlineFallsBackOrTimesOut) {
  selector s{primary_and_two()};
  scaling::read_session session;
  session.record_write(s.token(10));
  const auto past = std::chrono::steady_clock::now() - 1h;
  auto fallback = s.select_wait_until(session, {}, past);
  ASSERT_TRUE(fallback);
  EXPECT_TRUE(fallback->is_primary());
  auto strict = s.select_wait_until(session, {.on_stale = scaling::stale_fallback::fail}, past);
  EXPECT_EQ(strict.status(), scaling::wait_status::timed_out);
  EXPECT_EQ(s.select_wait(session, {.on_stale = scaling::stale_fallback::fail}, 0s).status(),
            scaling::select_status::no_fresh_replica);
}

TEST(SelectWait, AStopTokenEndsAForeverWait) {
  selector s{primary_and_two()};
  scaling::read_session session;
  session.record_write(s.token(10));
  std::stop_source source;
  std::thread stopper([&] {
    while (s.stats().no_fresh_replica < 1)
      std::this_thread::yield();
    source.request_stop();
  });
  auto r = s.select_wait_for(session, {}, std::chrono::hours::max(), source.get_token());
  stopper.join();
  EXPECT_EQ(r.status(), scaling::wait_status::stopped);
  EXPECT_EQ(s.stats().primary_fallbacks, 0U);  // a stopped wait does not fall back
}

TEST(SelectWait, WaitsForAMemberToComeUp) {
  selector::options no_panic;
  no_panic.health.panic_threshold_percent = 0.0;  // all down means nobody, not everybody
  selector s{primary_and_two(), no_panic};
  for (const char* id : {"primary", "r1", "r2"})
    s.mark(id, scaling::replica_health::down);
  scaling::read_session session;
  std::thread medic([&] {
    while (s.stats().no_member < 1)
      std::this_thread::yield();
    s.mark("r1", scaling::replica_health::up);
  });
  auto r = s.select_wait_for(session, {}, std::chrono::nanoseconds::max());
  medic.join();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->id(), "r1");
}

}  // namespace
