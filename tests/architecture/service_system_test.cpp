// Stage 3 in the lab: services with their own databases, and a queue between the post service
// and the notification work it creates.
#include <chrono>

#include <gtest/gtest.h>

#include <scaling/architecture/service_system.hpp>

namespace {

using namespace std::chrono_literals;
using scaling::architecture::run_open_loop;
using scaling::architecture::service_system;

const scaling::architecture::workload mixed{
    .objects = 100'000, .zipf_s = 0.99, .read_fraction = 0.8};

TEST(ServiceSystem, EveryPostsNotificationIsDoneOnce) {
  scaling::lab::simulation sim{31};
  service_system system{sim, {}};
  const auto r = run_open_loop(sim, system, mixed, 1'000.0, 2s, 10s);
  EXPECT_EQ(r.failed, 0U);
  const auto s = system.stats();
  EXPECT_GT(s.jobs_published, 1'500U);
  EXPECT_EQ(s.jobs_done, s.jobs_published);
  EXPECT_EQ(s.backlog, 0U);
  EXPECT_EQ(s.lost(), 0U);
  EXPECT_EQ(s.duplicates, 0U);
}

// The notification service is down for 20 s: posts are still created at full speed (the
// write path does not wait for notifications), the queue holds the backlog, the jobs the
// failed consumers held are redelivered after their visibility timeout, and after recovery
// everything drains. Nothing is lost, and the idempotent consumer records each job once.
TEST(ServiceSystem, AnOutageQueuesTheWorkAndDrainsAfterRecovery) {
  scaling::lab::simulation sim{32};
  scaling::architecture::service_system_options options;
  options.visibility_timeout = 5s;
  service_system system{sim, options};
  system.outage(service_system::service::notifications, 5s, 20s);
  const auto r = run_open_loop(sim, system, mixed, 1'000.0, 1s, 30s);
  EXPECT_EQ(r.failed, 0U) << "posts must be created while notifications are down";
  const auto s = system.stats();
  EXPECT_GT(s.peak_backlog, 2'000U);  // about 200 posts/s for 20 s
  EXPECT_GT(s.drain_time, 0s);
  EXPECT_EQ(s.backlog, 0U);
  EXPECT_EQ(s.lost(), 0U);
  EXPECT_EQ(s.jobs_done, s.jobs_published);
  EXPECT_GT(s.redeliveries, 0U);  // the jobs in service when the consumers failed
}

// A read-only outage of another service does not touch posts or notifications.
TEST(ServiceSystem, AServiceOutageFailsOnlyItsOwnRequests) {
  scaling::lab::simulation sim{33};
  service_system system{sim, {}};
  system.outage(service_system::service::users, 2s, 5s);
  const auto r = run_open_loop(sim, system, mixed, 1'000.0, 1s, 10s);
  EXPECT_GT(r.failed, 0U);              // profile reads during the outage
  EXPECT_LT(r.failed, r.requests / 2);  // posts kept working
  EXPECT_EQ(system.stats().jobs_done, system.stats().jobs_published);
}

}  // namespace
