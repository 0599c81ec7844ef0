// The stage-2 load balancer in the lab: the replication area's selector spreading requests over
// app-server stations, routing on the response times it observes on virtual time.
#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/architecture/load_balanced.hpp>
#include <scaling/architecture/serving.hpp>
#include <scaling/lab/arrivals.hpp>
#include <scaling/replication/replica_selector.hpp>

namespace {

using namespace std::chrono_literals;

template <class Policy>
std::vector<std::uint64_t> dispatched_per_server(double slow_factor) {
  scaling::lab::simulation sim{8};
  scaling::replica_selector<scaling::replica_endpoint, Policy, scaling::manual_clock> lb{
      {{.id = "app-0"}, {.id = "app-1"}, {.id = "app-2"}}, {}, sim.clock()};
  scaling::architecture::station_serving app{sim, "app", 3,
                                             scaling::lab::distribution::exponential(1ms), 2};
  app.at(2).set_service(scaling::lab::distribution::exponential(
      std::chrono::duration_cast<std::chrono::nanoseconds>(1ms * slow_factor)));
  scaling::architecture::load_balanced tier{lb, app};
  scaling::lab::poisson_arrivals load{sim, 1500.0, [&] {
                                        tier.dispatch([](scaling::lab::outcome o, auto finish) {
                                          finish(o == scaling::lab::outcome::served);
                                        });
                                      }};
  load.start();
  sim.run_for(20s);
  std::vector<std::uint64_t> served;
  for (const auto& st : app.stations())
    served.push_back(st.stats().arrivals);
  return served;
}

// Round robin keeps sending a third to a server ten times slower (which then overloads).
TEST(LoadBalanced, RoundRobinSpreadsEvenlyWhateverTheServersSpeed) {
  const auto served = dispatched_per_server<scaling::round_robin>(10.0);
  const double total = static_cast<double>(served[0] + served[1] + served[2]);
  EXPECT_NEAR(static_cast<double>(served[2]) / total, 1.0 / 3.0, 0.02);
}

TEST(LoadBalanced, PeakEwmaSendsLessToTheServerItSeesIsSlow) {
  const auto served = dispatched_per_server<scaling::peak_ewma>(10.0);
  const double total = static_cast<double>(served[0] + served[1] + served[2]);
  EXPECT_LT(static_cast<double>(served[2]) / total, 0.15)
      << served[0] << " / " << served[1] << " / " << served[2];
}

TEST(LoadBalanced, ATierWithNoMemberRefuses) {
  scaling::lab::simulation sim;
  scaling::replica_selector_options<scaling::round_robin> no_panic;
  no_panic.health.panic_threshold_percent = 0.0;  // a down member is never used
  scaling::replica_selector<scaling::replica_endpoint, scaling::round_robin, scaling::manual_clock>
      lb{{{.id = "app-0"}}, no_panic, sim.clock()};
  lb.mark("app-0", scaling::replica_health::down);
  scaling::architecture::station_serving app{sim, "app", 1,
                                             scaling::lab::distribution::deterministic(1ms)};
  scaling::architecture::load_balanced tier{lb, app};
  scaling::lab::outcome seen = scaling::lab::outcome::served;
  tier.dispatch([&](scaling::lab::outcome o, auto finish) {
    seen = o;
    finish(false);
  });
  EXPECT_EQ(seen, scaling::lab::outcome::refused);
}

}  // namespace
