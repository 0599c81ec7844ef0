// scaling/architecture/serving.hpp: where a composition's requests spend their time.
//
// What it is: the two models of `serving` (roles.hpp). `inline_serving` is the in-process
// case: the work takes no simulated time and the continuation runs inside the call.
// `station_serving` puts each server of a tier behind a `lab::station` of the scaling lab,
// so that a request queues and is served for a time drawn from that tier's service law, on
// the simulation's virtual time; a failed station refuses or loses the request, and the
// composition sees it as a failed reply.
//
// When to pick which: inline_serving in an application or a unit test; station_serving in the
// lab, one per tier (app servers, database members, cache servers).
//
//   scaling::lab::simulation sim{1};
//   scaling::architecture::station_serving db{sim, "db", 3,
//   scaling::lab::distribution::exponential(2ms)}; db.serve(0, [](scaling::lab::outcome o) { /*
//   node 0 answered (or failed) */ });
//
// Thread safety: inline_serving is stateless; station_serving lives in one simulation.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "scaling/architecture/roles.hpp"
#include "scaling/core/error.hpp"
#include "scaling/lab/random.hpp"
#include "scaling/lab/simulation.hpp"
#include "scaling/lab/station.hpp"

namespace scaling::architecture {

// The work happens now, in the caller's thread, and always succeeds.
class inline_serving {
 public:
  explicit inline_serving(std::size_t servers = 1) : servers_(servers) {}
  template <class K>
  void serve(std::size_t /*server*/, work /*kind*/, K&& k) {
    std::forward<K>(k)(lab::outcome::served);
  }
  [[nodiscard]] std::size_t servers() const noexcept { return servers_; }

 private:
  std::size_t servers_;
};

// One lab station per server of a tier, each with `threads` parallel workers. Reads take the
// stations' service law; writes take `write_service` when given (a write that costs more).
class station_serving {
 public:
  // Throws: scaling::invalid_argument if servers == 0 or threads == 0.
  station_serving(lab::simulation& sim, const std::string& tier, std::size_t servers,
                  lab::distribution service, std::size_t threads = 1,
                  std::optional<lab::distribution> write_service = std::nullopt)
      : sim_(&sim), write_service_(std::move(write_service)) {
    if (servers == 0)
      scaling::detail::throw_invalid_argument("scaling::architecture::station_serving", "servers",
                                              "must be >= 1", servers);
    if (threads == 0)
      scaling::detail::throw_invalid_argument("scaling::architecture::station_serving", "threads",
                                              "must be >= 1", threads);
    for (std::size_t i = 0; i < servers; ++i)
      stations_.emplace_back(
          sim, lab::station_options{
                   .name = tier + "-" + std::to_string(i), .servers = threads, .service = service});
  }

  void serve(std::size_t server, work kind, std::function<void(lab::outcome)> k) {
    lab::station& st = at(server);
    auto done = [k = std::move(k)](const lab::job_times& t) { k(t.result); };
    if (kind == work::write && write_service_)
      st.submit(write_service_->sample(sim_->rng()), std::move(done));
    else
      st.submit(std::move(done));
  }
  [[nodiscard]] std::size_t servers() const noexcept { return stations_.size(); }

  [[nodiscard]] lab::station& at(std::size_t server) {
    if (server >= stations_.size())
      scaling::detail::throw_invalid_argument("scaling::architecture::station_serving", "server",
                                              "must be < servers", server);
    return stations_[server];
  }
  [[nodiscard]] const std::deque<lab::station>& stations() const noexcept { return stations_; }
  void reset_stats() {
    for (auto& s : stations_)
      s.reset_stats();
  }

 private:
  lab::simulation* sim_;
  std::optional<lab::distribution> write_service_;
  std::deque<lab::station> stations_;  // deque: stations are not movable, and stay put
};

}  // namespace scaling::architecture
