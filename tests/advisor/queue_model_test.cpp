// The queueing formulas against the reference vectors (REFERENCE-CASES.md) and against the lab's
// discrete-event station under Poisson arrivals.
#include <chrono>
#include <cmath>
#include <stdexcept>

#include <gtest/gtest.h>

#include <scaling/advisor/queue_model.hpp>
#include <scaling/lab/arrivals.hpp>
#include <scaling/lab/simulation.hpp>
#include <scaling/lab/station.hpp>

namespace {

using scaling::advisor::erlang_b;
using scaling::advisor::erlang_c;
using scaling::advisor::mmc;
using scaling::advisor::plan_limit;
using scaling::advisor::plan_servers;

TEST(ErlangC, ReferenceVectors) {
  EXPECT_NEAR(erlang_c(3, 2.0), 0.4444, 5e-5);
  EXPECT_NEAR(erlang_c(4, 2.5), 0.3199, 5e-5);
  EXPECT_NEAR(erlang_c(5, 2.5), 0.1304, 5e-5);
  EXPECT_NEAR(erlang_c(10, 8.0), 0.4092, 5e-5);
  EXPECT_EQ(erlang_c(2, 2.0), 1.0);           // saturated
  EXPECT_NEAR(erlang_c(1, 0.5), 0.5, 1e-12);  // M/M/1: P(wait) = rho
  EXPECT_NEAR(erlang_b(1, 1.0), 0.5, 1e-12);
}

TEST(ErlangC, StableForThousandsOfServers) {
  const double c = erlang_c(5'000, 4'900.0);
  EXPECT_TRUE(std::isfinite(c));
  EXPECT_GT(c, 0.0);
  EXPECT_LT(c, 1.0);
}

TEST(Mmc, MeanWaitAndPercentilesAgreeWithClosedForms) {
  const mmc q{.arrival_rate = 200, .service_rate = 100, .servers = 3};
  EXPECT_NEAR(q.utilization(), 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(q.mean_wait(), erlang_c(3, 2.0) / 100.0, 1e-12);
  // P(W > t) = C exp(-(c mu - lambda) t) at the p99.
  const double t = q.wait_percentile(0.99);
  EXPECT_NEAR(q.wait_probability() * std::exp(-q.drain_rate() * t), 0.01, 1e-12);
  // M/M/1: the response time is exponential at mu - lambda.
  const mmc one{.arrival_rate = 80, .service_rate = 100, .servers = 1};
  EXPECT_NEAR(one.response_percentile(0.99), std::log(100.0) / 20.0, 1e-9);
  // theta == mu (c mu - lambda = mu): the hypoexponential's limit.
  const mmc edge{.arrival_rate = 100, .service_rate = 100, .servers = 2};
  EXPECT_NEAR(edge.response_exceeds(0.0), 1.0, 1e-12);
  EXPECT_GT(edge.response_percentile(0.99), 0.0);
}

TEST(PlanServers, UtilizationThenLatency) {
  auto p = plan_servers(300'000, 80'000, 0.7, 0.0);
  EXPECT_EQ(p.servers, 6u);  // 300K / (80K x 0.7) = 5.36
  EXPECT_EQ(p.limited_by, plan_limit::utilization);
  // A slow service (10 ms mean) and a 50 ms p99 objective: the utilization plan (4 servers at
  // 0.7) answers its p99 in 54.9 ms; a fifth server brings it to 47.5 ms.
  p = plan_servers(280, 100, 0.7, 0.050);
  EXPECT_EQ(p.limited_by, plan_limit::latency);
  EXPECT_EQ(p.servers, 5u);
  EXPECT_LE(p.p99_response, 0.050);
  const mmc fewer{280, 100, p.servers - 1};
  EXPECT_GT(fewer.response_percentile(0.99), 0.050);
  // p99 of the service alone is ln(100) / mu = 46 ms: a 40 ms objective is out of reach.
  p = plan_servers(280, 100, 0.7, 0.040);
  EXPECT_EQ(p.limited_by, plan_limit::unreachable);
  // Nodes that run 4 requests at once: 4 workers at 25/s each, so a read takes 40 ms and the
  // plan counts whole nodes of 4 servers (M/M/12 with 3 nodes at 0.93 is over the target).
  p = plan_servers(280, 100, 0.7, 0.0, 4);
  EXPECT_EQ(p.servers, 4u);
  EXPECT_NEAR(p.utilization, 0.7, 1e-12);
  const mmc workers{280, 25, 16};
  EXPECT_NEAR(p.p99_response, workers.response_percentile(0.99), 1e-12);
  EXPECT_THROW((void)plan_servers(280, 100, 0.7, 0.0, 0), std::invalid_argument);
  EXPECT_THROW((void)plan_servers(-1, 100, 0.7, 0), std::invalid_argument);
  EXPECT_THROW((void)plan_servers(1, 100, 1.0, 0), std::invalid_argument);
}

TEST(Burst, BacklogDrainAndConsumers) {
  // 10x a 1,000/s base for 60 s, consumers at 500/s each.
  const scaling::advisor::burst b{
      .base_rate = 1'000, .burst_rate = 10'000, .duration = 60, .consumer_rate = 500};
  EXPECT_DOUBLE_EQ(b.backlog(4), 8'000.0 * 60);
  EXPECT_DOUBLE_EQ(b.drain_time(4), 8'000.0 * 60 / 1'000);
  EXPECT_EQ(b.drain_time(2), std::numeric_limits<double>::infinity());
  EXPECT_EQ(b.backlog(20), 0.0);
  // (10,000 x 60 + 1,000 x 300) / (500 x 360) = 5 consumers to drain within 5 minutes.
  const auto c = b.consumers_to_drain_within(300);
  EXPECT_EQ(c, 5u);
  EXPECT_LE(b.drain_time(c), 300.0);
  EXPECT_GT(b.drain_time(c - 1), 300.0);
  EXPECT_EQ(b.consumers_to_drain_within(0), 20u);  // no backlog allowed: keep up with the burst
}

// The M/M/c prediction against the lab's station: c = 3 servers at utilization 0.8, about
// 480,000 measured customers (compiled with -O2: a third of a second in Debug). The mean wait
// is held to 5%; the p99s to 6%, because a tail quantile from this many customers moves more:
// over seeds 1, 2, 3 and 42 the measured / predicted ratios were 0.97-1.03 for the mean and
// 0.947-1.034 for the p99 wait (1.6 million customers narrow it to 0.973-1.034).
TEST(Mmc, PredictsTheLabStationWithin5Percent) {
  using namespace std::chrono_literals;
  const double mu = 100.0, lambda = 240.0;
  const std::size_t c = 3;
  scaling::lab::simulation sim{42};
  scaling::lab::station st{
      sim,
      {.name = "replicas", .servers = c, .service = scaling::lab::distribution::exponential(10ms)}};
  scaling::lab::poisson_arrivals load{sim, lambda, [&] { st.submit([](const auto&) {}); }};
  load.start();
  sim.run_for(std::chrono::seconds{200});
  st.reset_stats();
  sim.run_for(std::chrono::seconds{2'000});  // about 480,000 customers
  const auto s = st.stats();
  const mmc q{lambda, mu, c};
  EXPECT_NEAR(s.wait.mean_ns() / 1e9 / q.mean_wait(), 1.0, 0.05);
  EXPECT_NEAR(s.utilization, q.utilization(), 0.01);
  const double p99_measured = static_cast<double>(s.wait.percentile(0.99).count()) / 1e9;
  EXPECT_NEAR(p99_measured / q.wait_percentile(0.99), 1.0, 0.06);
  const double p99_response = static_cast<double>(s.sojourn.percentile(0.99).count()) / 1e9;
  EXPECT_NEAR(p99_response / q.response_percentile(0.99), 1.0, 0.06);
}

}  // namespace
