// The lab's engine checked against queueing theory: M/M/1, M/M/c (Erlang C) and M/D/1
// (Pollaczek-Khinchine) mean waits at utilizations 0.5, 0.8 and 0.9, and Little's law on every
// run. Runs are seeded, so each check is deterministic; the sample sizes below keep three
// standard errors of the simulated mean inside the stated tolerance (the variance of the mean
// wait in M/M/1 grows as 1 / (1 - rho)^2 per customer: 2 million customers at rho = 0.9 give a
// standard error of about 1.5%). Under a sanitizer the runs are a twentieth as long and the
// tolerances 4.5x wider (see CMakeLists.txt).
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/lab/arrivals.hpp>
#include <scaling/lab/station.hpp>

namespace {

using namespace std::chrono_literals;
using scaling::lab::distribution;
using scaling::lab::simulation;
using scaling::lab::station;

// Erlang C: the probability that an arrival waits in M/M/c with offered load a = lambda / mu.
double erlang_c(int c, double a) {
  double term = 1.0;  // a^k / k!
  double sum = 0.0;
  for (int k = 0; k < c; ++k) {
    sum += term;
    term *= a / (k + 1);
  }
  const double last = term * c / (c - a);
  return last / (sum + last);
}

struct run_result {
  double mean_wait_s;
  double utilization;
  double littles_l;   // time-averaged number in system
  double littles_lw;  // arrival rate x mean sojourn
};

run_result run_station(int servers, double lambda, const distribution& service,
                       std::uint64_t customers, std::uint64_t seed) {
  simulation sim{seed};
  station st{sim, {.name = "s", .servers = static_cast<std::size_t>(servers), .service = service}};
  scaling::lab::poisson_arrivals load{sim, lambda, [&] { st.submit([](const auto&) {}); }};
  load.start();
  // Warm up for a tenth of the customers, then measure.
  const auto warm = std::chrono::nanoseconds{
      static_cast<std::int64_t>(static_cast<double>(customers) / 10.0 / lambda * 1e9)};
  sim.run_for(warm);
  st.reset_stats();
  sim.run_for(std::chrono::nanoseconds{
      static_cast<std::int64_t>(static_cast<double>(customers) / lambda * 1e9)});
  const auto s = st.stats();
  return {s.wait.mean_ns() / 1e9, s.utilization, s.mean_in_system,
          s.arrival_rate * s.sojourn.mean_ns() / 1e9};
}

struct theory_case {
  double rho;
  std::uint64_t customers;
};
#ifdef SCALING_LAB_SHORT_THEORY_RUNS
// A twentieth of the customers: the standard error grows by sqrt(20), about 4.5x.
constexpr std::uint64_t sample_divisor = 20;
constexpr double tolerance_factor = 4.5;
#else
constexpr std::uint64_t sample_divisor = 1;
constexpr double tolerance_factor = 1.0;
#endif
const std::vector<theory_case> cases = {{0.5, 300'000 / sample_divisor},
                                        {0.8, 800'000 / sample_divisor},
                                        {0.9, 2'000'000 / sample_divisor}};

TEST(StationTheory, MM1MeanWaitMatchesFormula) {
  const double mu = 1000.0;  // 1 ms mean service
  for (const auto& [rho, n] : cases) {
    const double lambda = rho * mu;
    const auto r = run_station(1, lambda, distribution::exponential(1ms), n, 101);
    const double expected = rho / (mu - lambda);
    EXPECT_NEAR(r.mean_wait_s / expected, 1.0, 0.05 * tolerance_factor) << "rho=" << rho;
    EXPECT_NEAR(r.utilization, rho, 0.01 * tolerance_factor) << "rho=" << rho;
    EXPECT_NEAR(r.littles_l / r.littles_lw, 1.0, 0.01 * tolerance_factor)
        << "Little's law, rho=" << rho;
  }
}

TEST(StationTheory, MMcMeanWaitMatchesErlangC) {
  const double mu = 100.0;  // 10 ms mean service
  const int c = 4;
  for (const auto& [rho, n] : cases) {
    const double lambda = rho * c * mu;
    const auto r = run_station(c, lambda, distribution::exponential(10ms), n, 202);
    const double expected = erlang_c(c, lambda / mu) / (c * mu - lambda);
    EXPECT_NEAR(r.mean_wait_s / expected, 1.0, 0.06 * tolerance_factor) << "rho=" << rho;
    EXPECT_NEAR(r.utilization, rho, 0.01 * tolerance_factor) << "rho=" << rho;
    EXPECT_NEAR(r.littles_l / r.littles_lw, 1.0, 0.01 * tolerance_factor)
        << "Little's law, rho=" << rho;
  }
}

TEST(StationTheory, MD1MeanWaitMatchesPollaczekKhinchine) {
  const double mu = 1000.0;
  for (const auto& [rho, n] : cases) {
    const double lambda = rho * mu;
    // Deterministic service halves the M/M/1 wait: Wq = rho / (2 mu (1 - rho)).
    const auto r = run_station(1, lambda, distribution::deterministic(1ms), n, 303);
    const double expected = rho / (2 * mu * (1 - rho));
    EXPECT_NEAR(r.mean_wait_s / expected, 1.0, 0.05 * tolerance_factor) << "rho=" << rho;
    EXPECT_NEAR(r.littles_l / r.littles_lw, 1.0, 0.01 * tolerance_factor)
        << "Little's law, rho=" << rho;
  }
}

// Last come, first served, non-preemptive: the same mean wait as FIFO (the order of service
// does not change the work in the system when it ignores service times), a longer tail.
TEST(StationTheory, LifoKeepsTheMeanWaitAndStretchesTheTail) {
  const double mu = 1'000.0, lambda = 800.0;
  const std::uint64_t customers = 800'000 / sample_divisor;
  auto run = [&](scaling::lab::queue_discipline d) {
    simulation sim{31};
    station st{
        sim,
        {.name = "s", .servers = 1, .service = distribution::exponential(1ms), .discipline = d}};
    scaling::lab::poisson_arrivals load{sim, lambda, [&] { st.submit([](const auto&) {}); }};
    load.start();
    sim.run_for(std::chrono::seconds{static_cast<std::int64_t>(customers / 10 / 800 + 1)});
    st.reset_stats();
    sim.run_for(std::chrono::seconds{static_cast<std::int64_t>(customers / 800)});
    return st.stats();
  };
  const auto fifo = run(scaling::lab::queue_discipline::fifo);
  const auto lifo = run(scaling::lab::queue_discipline::lifo);
  const double expected = (lambda / mu) / (mu - lambda);  // M/M/1: Wq = rho / (mu - lambda)
  EXPECT_NEAR(lifo.wait.mean_ns() / 1e9, expected, expected * 0.05 * tolerance_factor);
  EXPECT_NEAR(fifo.wait.mean_ns() / 1e9, expected, expected * 0.05 * tolerance_factor);
  EXPECT_GT(lifo.wait.percentile(0.999), fifo.wait.percentile(0.999) * 1.5);
}

// Non-preemptive priority, two classes with equal rates and exponential service (Cobham):
// W0 = sum(lambda_i E[S^2]) / 2, W_1 = W0 / (1 - rho_1), W_2 = W0 / ((1 - rho_1)(1 - rho)).
TEST(StationTheory, PriorityClassesMatchCobhamsFormula) {
  const double mu = 1'000.0, lambda = 800.0;  // 400 per class
  const std::uint64_t customers = 800'000 / sample_divisor;
  simulation sim{32};
  station st{sim,
             {.name = "s",
              .servers = 1,
              .service = distribution::exponential(1ms),
              .discipline = scaling::lab::queue_discipline::priority,
              .priority_classes = 2}};
  scaling::lab::histogram urgent, bulk;
  bool measuring = false;
  scaling::lab::poisson_arrivals load{sim, lambda, [&] {
                                        const auto cls =
                                            static_cast<std::uint8_t>(sim.rng().below(2));
                                        st.submit({.priority = cls}, [&, cls](const auto& t) {
                                          if (measuring) (cls == 0 ? urgent : bulk).record(t.wait);
                                        });
                                      }};
  load.start();
  sim.run_for(std::chrono::seconds{static_cast<std::int64_t>(customers / 10 / 800 + 1)});
  measuring = true;
  sim.run_for(std::chrono::seconds{static_cast<std::int64_t>(customers / 800)});
  const double w0 = lambda * (2.0 / (mu * mu)) / 2.0;
  const double rho1 = 400.0 / mu, rho = lambda / mu;
  const double w1 = w0 / (1 - rho1), w2 = w0 / ((1 - rho1) * (1 - rho));
  EXPECT_NEAR(urgent.mean_ns() / 1e9, w1, w1 * 0.05 * tolerance_factor);
  EXPECT_NEAR(bulk.mean_ns() / 1e9, w2, w2 * 0.05 * tolerance_factor);
}

TEST(Station, PriorityClassOutOfRangeIsNamed) {
  simulation sim{1};
  station st{sim, {.discipline = scaling::lab::queue_discipline::priority, .priority_classes = 2}};
  try {
    st.submit({.priority = 2}, [](const auto&) {});
    FAIL() << "no error";
  } catch (const scaling::invalid_argument& e) {
    EXPECT_NE(std::string{e.what()}.find("spec.priority"), std::string::npos) << e.what();
  }
  EXPECT_THROW((station{sim, {.priority_classes = 0}}), scaling::invalid_argument);
  // Under fifo the class is ignored.
  station fifo{sim, {}};
  fifo.submit({.priority = 9}, [](const auto&) {});
  sim.run();
  EXPECT_EQ(fifo.stats().completions, 1U);
}

TEST(Station, SameSeedSameRun) {
  auto run = [] {
    simulation sim{9};
    station st{sim, {.servers = 2, .service = distribution::lognormal(3ms, 2.0)}};
    scaling::lab::poisson_arrivals load{sim, 500.0, [&] { st.submit([](const auto&) {}); }};
    load.start();
    sim.run_for(20s);
    const auto s = st.stats();
    return std::vector<double>{static_cast<double>(s.completions), s.utilization,
                               static_cast<double>(s.sojourn.percentile(0.99).count())};
  };
  EXPECT_EQ(run(), run());
}

TEST(Station, CallerGivenServiceTimeAndTimings) {
  simulation sim;
  station st{sim, {.servers = 1}};
  std::vector<scaling::lab::job_times> seen;
  st.submit(5ms, [&](const auto& t) { seen.push_back(t); });
  st.submit(2ms, [&](const auto& t) { seen.push_back(t); });  // waits behind the first
  sim.run();
  ASSERT_EQ(seen.size(), 2U);
  EXPECT_EQ(seen[0].wait, 0ms);
  EXPECT_EQ(seen[0].sojourn, 5ms);
  EXPECT_EQ(seen[1].wait, 5ms);
  EXPECT_EQ(seen[1].service, 2ms);
  EXPECT_EQ(seen[1].sojourn, 7ms);
  const auto s = st.stats();
  EXPECT_EQ(s.completions, 2U);
  EXPECT_DOUBLE_EQ(s.utilization, 1.0);
  EXPECT_EQ(s.max_queue_length, 1U);
}

TEST(Station, BoundedQueueRefusesAndFailureLosesJobs) {
  simulation sim;
  station st{sim, {.servers = 1, .queue_limit = 1}};
  std::vector<scaling::lab::outcome> outcomes;
  auto record = [&](const scaling::lab::job_times& t) { outcomes.push_back(t.result); };
  st.submit(10ms, record);  // in service
  st.submit(10ms, record);  // queued
  st.submit(10ms, record);  // refused at once
  ASSERT_EQ(outcomes, std::vector{scaling::lab::outcome::refused});
  sim.run_for(5ms);
  st.fail();  // the one in service and the queued one are lost
  EXPECT_EQ(outcomes.size(), 3U);
  EXPECT_EQ(outcomes[1], scaling::lab::outcome::lost);
  EXPECT_EQ(outcomes[2], scaling::lab::outcome::lost);
  st.submit(1ms, record);  // down: refused
  EXPECT_EQ(outcomes.back(), scaling::lab::outcome::refused);
  sim.run();  // the completion scheduled before the failure must not fire
  EXPECT_EQ(outcomes.size(), 4U);
  st.recover();
  st.submit(1ms, record);
  sim.run();
  EXPECT_EQ(outcomes.back(), scaling::lab::outcome::served);
  const auto s = st.stats();
  EXPECT_EQ(s.lost, 2U);
  EXPECT_EQ(s.refused, 2U);
  EXPECT_EQ(s.completions, 1U);
}

TEST(Station, ZeroServersIsNamed) {
  simulation sim;
  try {
    station st{sim, {.servers = 0}};
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string{e.what()}, "scaling::lab::station: servers must be >= 1 (got 0)");
  }
}

}  // namespace
