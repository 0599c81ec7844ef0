// A replica_selector ticket's lifetime rules: using a completed ticket is a std::logic_error that
// names the ticket's state, and a ticket that outlives its selector completes as a no-op. Both
// were undefined behaviour (a null dereference, a use after free) and must stay clean under ASan.
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/core/clock.hpp>
#include <scaling/replication/replica_selector.hpp>

namespace {

using scaling::read_outcome;

struct endpoint {
  std::string id;
};

using selector = scaling::replica_selector<endpoint, scaling::round_robin, scaling::manual_clock>;

std::vector<endpoint> three() {
  return {{"r1"}, {"r2"}, {"r3"}};
}

std::string logic_error_of(auto&& call) {
  try {
    call();
  } catch (const std::logic_error& e) {
    return e.what();
  }
  return "no std::logic_error";
}

TEST(TicketLifetime, UsingACompletedTicketIsALogicError) {
  scaling::manual_clock clock;
  selector s{three(), {}, clock};
  auto t = s.select();
  ASSERT_TRUE(t);
  EXPECT_EQ(t.replica().id, "r1");
  t.complete(read_outcome::success);
  EXPECT_FALSE(t);
  const std::string completed = logic_error_of([&] { (void)t.replica(); });
  EXPECT_NE(completed.find("completed"), std::string::npos) << completed;
  EXPECT_NE(completed.find("replica()"), std::string::npos) << completed;
  EXPECT_NE(logic_error_of([&] { (void)t.id(); }).find("completed"), std::string::npos);
  EXPECT_NE(logic_error_of([&] { (void)t.is_primary(); }).find("completed"), std::string::npos);
  // complete() is idempotent: the second call records nothing.
  t.complete(read_outcome::failure);
  const auto stats = s.stats();
  EXPECT_EQ(stats.successes, 1U);
  EXPECT_EQ(stats.failures, 0U);
  EXPECT_EQ(s.state("r1").outstanding, 0U);
}

TEST(TicketLifetime, UsingAnEmptyTicketIsALogicError) {
  scaling::manual_clock clock;
  selector::options no_panic;
  no_panic.health.panic_threshold_percent = 0.0;  // all down means nobody, not everybody
  selector s{three(), no_panic, clock};
  for (const char* id : {"r1", "r2", "r3"})
    s.mark(id, scaling::replica_health::down);
  auto t = s.select();
  ASSERT_FALSE(t);
  const std::string empty = logic_error_of([&] { (void)t.replica(); });
  EXPECT_NE(empty.find("empty"), std::string::npos) << empty;
  t.complete(read_outcome::success);  // nothing to complete: a no-op
  EXPECT_EQ(s.stats().successes, 0U);
}

TEST(TicketLifetime, AMovedFromTicketIsEmpty) {
  scaling::manual_clock clock;
  selector s{three(), {}, clock};
  auto t = s.select();
  auto moved = std::move(t);
  EXPECT_FALSE(t);  // NOLINT(bugprone-use-after-move): the state after a move is specified
  EXPECT_NE(logic_error_of([&] { (void)t.replica(); }).find("empty"), std::string::npos);
  EXPECT_EQ(moved.replica().id, "r1");
}

TEST(TicketLifetime, ATicketOutlivingItsSelectorCompletesAsANoOp) {
  scaling::manual_clock clock;
  auto s = std::make_unique<selector>(three(), selector::options{}, clock);
  auto finished = s->select();
  auto dropped = s->select();
  ASSERT_TRUE(finished);
  ASSERT_TRUE(dropped);
  s.reset();  // the selector goes first
  const std::string orphan = logic_error_of([&] { (void)finished.replica(); });
  EXPECT_NE(orphan.find("destroyed"), std::string::npos) << orphan;
  EXPECT_NE(logic_error_of([&] { (void)finished.id(); }).find("destroyed"), std::string::npos);
  finished.complete(read_outcome::success);  // defined: nothing is left to record into
  EXPECT_FALSE(finished);
  // `dropped` is destroyed unfinished at the end of the scope: also a no-op.
}

TEST(TicketLifetime, TicketsCompletingWhileTheSelectorIsDestroyed) {
  // Tickets finish on other threads while the owner destroys the selector: either each
  // completion is recorded or it is a no-op, never a use after free (run under ASan and TSan).
  for (int round = 0; round < 20; ++round) {
    scaling::manual_clock clock;
    auto s = std::make_unique<selector>(three(), selector::options{}, clock);
    std::vector<selector::ticket> tickets;
    for (int i = 0; i < 6; ++i)
      tickets.push_back(s->select());
    std::vector<std::thread> finishers;
    for (auto& t : tickets) {
      finishers.emplace_back([&t] { t.complete(read_outcome::success); });
    }
    s.reset();
    for (auto& f : finishers)
      f.join();
  }
}

}  // namespace
