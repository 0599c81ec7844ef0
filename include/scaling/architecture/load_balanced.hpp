// scaling/architecture/load_balanced.hpp: a tier of identical servers behind a load balancer.
//
// What it is: `load_balanced<Selector, Serving>` spreads requests over the servers of a tier
// (stage 2's load-balanced app servers) with the replication area's `replica_selector`: the
// problem is the same (pick a member by load, latency, health), so its policies
// (round_robin, least_outstanding, power_of_two, peak_ewma, zone_aware) serve here unchanged.
// A request spends its time on the chosen server, then runs its downstream steps (a cache, a
// database), and reports when it is finished; the selector's ticket is completed then, so a
// latency-aware policy sees each server's whole response time, and a server that fails
// (refused or lost requests) is ejected by the selector's outlier detection.
//
// When to pick it: for any horizontally scaled stateless tier. In the lab with
// station_serving, where the selector's clock is the simulation's.
//
//   scaling::replica_selector<scaling::replica_endpoint, scaling::peak_ewma, scaling::manual_clock>
//       lb{{{"app-0"}, {"app-1"}}, {}, sim.clock()};
//   scaling::architecture::station_serving app{sim, "app", 2,
//   scaling::lab::distribution::exponential(1ms)}; scaling::architecture::load_balanced tier{lb,
//   app}; tier.dispatch([](scaling::lab::outcome o, auto finish) { /* downstream */ finish(true);
//   });
//
// Thread safety: as the selector (internally locked) and the serving policy.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <utility>

#include "scaling/architecture/roles.hpp"
#include "scaling/core/error.hpp"
#include "scaling/replication/replica.hpp"

namespace scaling::architecture {

// A member picker with tickets, as replica_selector: select() returns a ticket that converts
// to bool (a member was found), names its member's index(), and is completed with an outcome.
template <class S>
concept member_selector = requires(S& s) {
  {static_cast<bool>(s.select())};
  { s.select().index() } -> std::convertible_to<std::size_t>;
  s.select().complete(read_outcome::success);
  { s.size() } -> std::convertible_to<std::size_t>;
};

template <member_selector Selector, serving Serving>
class load_balanced {
 public:
  // What finish() is told: whether the request as a whole succeeded.
  using finish_fn = std::function<void(bool ok)>;
  // The request's work after its time on the server: told whether the server served it, and
  // given finish(), which it must call exactly once when the request is over.
  using work_fn = std::function<void(lab::outcome, finish_fn)>;

  // Throws: scaling::invalid_argument if serving has not one server per selector member.
  load_balanced(Selector& selector, Serving& serving) : selector_(&selector), serving_(&serving) {
    if (serving.servers() != selector.size())
      scaling::detail::throw_invalid_argument(
          "scaling::architecture::load_balanced", "serving.servers()",
          "must equal the selector's members (size())", serving.servers());
  }

  void dispatch(work_fn work) {
    auto ticket = std::make_shared<decltype(selector_->select())>(selector_->select());
    if (!*ticket) {
      work(lab::outcome::refused, [](bool) {});
      return;
    }
    const std::size_t server = ticket->index();
    serving_->serve(server, work::read, [ticket, work = std::move(work)](lab::outcome o) mutable {
      work(o, [ticket](bool ok) {
        ticket->complete(ok ? read_outcome::success : read_outcome::failure);
      });
    });
  }

  [[nodiscard]] Selector& selector() noexcept { return *selector_; }
  [[nodiscard]] Serving& serving() noexcept { return *serving_; }

 private:
  Selector* selector_;
  Serving* serving_;
};

template <class Selector, class Serving>
load_balanced(Selector&, Serving&) -> load_balanced<Selector, Serving>;

}  // namespace scaling::architecture
