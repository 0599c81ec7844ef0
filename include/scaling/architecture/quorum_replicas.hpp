// scaling/architecture/quorum_replicas.hpp: quorum_store's nodes as lab stations, its messages
// over the lab network, on virtual time.
//
// What it is: `lab_quorum_replicas`, the lab transport of `scaling::quorum_store`. Each node is
// a `lab::station` with `threads` parallel workers and a service law (a slow node is a station
// whose law is slower: set_service); each node is a place of a `lab::network`, and a request
// from the coordinator to a replica, and the answer back, each cross the network with its
// one-way delay (zero when the coordinator is the replica). The replica reads or writes its
// data when its station serves the request, and the coordinator counts the answer when it
// arrives, so a read at level R completes at the virtual time of the R-th reply, a write at
// the W-th, and speculative retry fires on a simulation timer. A crash fails the station: the
// requests queued or in service there are lost (a write becomes a hint, a read that can no
// longer gather R answers times out). `lab_quorum_store` names the store on this transport,
// and `measure_quorum_reads` drives an open-loop read load through one and returns the
// latency histogram.
//
// When to pick it: to see, in virtual time and so the same on every machine, what a
// consistency level, a slow replica, a dead one or speculative retry does to read latency,
// with queueing included (a slow node's queue grows with the load it is sent). In an
// application, keep the default transport (simulated_replicas, in process).
//
//   scaling::lab::simulation sim{1};
//   scaling::architecture::lab_quorum_store<std::string, std::int64_t, std::string> feed{
//       {.nodes = 3}, scaling::architecture::lab_quorum_replicas{sim, {.nodes = 3}}, sim.clock()};
//   feed.async_get("user:7", 0, {.level = scaling::quorum_level::quorum},
//                  [](const auto& r) { /* r.latency: virtual time to the 2nd reply */ });
//   sim.run();
//
// Thread safety: none; the transport and its store live on the simulation's thread.
// Complexity: a request costs the stations' and the network's O(log n) events per replica.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "scaling/architecture/serving.hpp"
#include "scaling/core/error.hpp"
#include "scaling/lab/arrivals.hpp"
#include "scaling/lab/histogram.hpp"
#include "scaling/lab/network.hpp"
#include "scaling/lab/random.hpp"
#include "scaling/lab/simulation.hpp"
#include "scaling/lab/station.hpp"
#include "scaling/replication/quorum_store.hpp"

namespace scaling::architecture {

struct lab_quorum_replicas_options {
  std::size_t nodes = 3;    // must equal the store's quorum_store_options::nodes
  std::size_t threads = 8;  // parallel workers per node (Cassandra's concurrent_reads), >= 1
  // A request's service time at a healthy node.
  lab::distribution service = lab::distribution::exponential(std::chrono::microseconds{500});
  // One way between two distinct nodes; a node sending to itself pays nothing.
  lab::distribution network = lab::distribution::deterministic(std::chrono::microseconds{250});
};

class lab_quorum_replicas {
 public:
  using mutex_type = single_thread_lock;

  // Throws: scaling::invalid_argument if options.nodes == 0 or options.threads == 0.
  lab_quorum_replicas(lab::simulation& sim, lab_quorum_replicas_options options)
      : state_(std::make_unique<state>(sim, options)) {}

  [[nodiscard]] std::size_t nodes() const noexcept { return state_->places.size(); }
  [[nodiscard]] std::chrono::nanoseconds elapsed() const noexcept {
    return state_->sim->now().time_since_epoch();
  }

  void send(std::size_t from, std::size_t to, std::function<void()> task,
            std::function<void(replica_reply)> reply) {
    state* st = state_.get();
    auto request = [st, from, to, task = std::move(task), reply]() mutable {
      st->nodes.serve(to, work::read,
                      [st, from, to, task = std::move(task), reply](lab::outcome o) mutable {
                        if (o != lab::outcome::served) {
                          reply(replica_reply::lost);
                          return;
                        }
                        task();
                        st->deliver(
                            to, from, [reply] { reply(replica_reply::answered); }, reply);
                      });
    };
    st->deliver(from, to, std::move(request), reply);
  }
  void after(std::chrono::nanoseconds delay, std::function<void()> f) {
    state_->sim->after(delay, std::move(f));
  }
  // The node's station fails: what it had queued or in service is lost.
  void node_down(std::size_t node) { state_->nodes.at(node).fail(); }
  void node_up(std::size_t node) { state_->nodes.at(node).recover(); }

  // A node's service law from now on (10x the healthy mean: a slow disk, a GC storm).
  // Throws: scaling::invalid_argument for a node index >= nodes().
  void set_service(std::size_t node, lab::distribution service) {
    state_->nodes.at(node).set_service(std::move(service));
  }
  // A node's station, for its figures (utilization, queue length, sojourn times).
  [[nodiscard]] const lab::station& station(std::size_t node) const {
    return state_->nodes.at(node);
  }
  [[nodiscard]] const lab::network& network() const noexcept { return state_->net; }

 private:
  struct state {
    state(lab::simulation& s, const lab_quorum_replicas_options& o)
        : sim(&s), nodes(s, "quorum-node", checked(o).nodes, o.service, o.threads), net(s) {
      for (std::size_t i = 0; i < o.nodes; ++i)
        places.push_back(net.add_place("quorum-node-" + std::to_string(i)));
      for (std::size_t a = 0; a < o.nodes; ++a)
        for (std::size_t b = a + 1; b < o.nodes; ++b)
          net.set_delay(places[a], places[b], o.network);
    }
    // Carries `f` from node a to node b; a cut link loses it (never inside the caller).
    template <class F>
    void deliver(std::size_t a, std::size_t b, F&& f,
                 const std::function<void(replica_reply)>& reply) {
      if (!net.send(places.at(a), places.at(b), std::forward<F>(f)))
        sim->after(std::chrono::nanoseconds{0}, [reply] { reply(replica_reply::lost); });
    }
    static const lab_quorum_replicas_options& checked(const lab_quorum_replicas_options& o) {
      if (o.nodes == 0)
        scaling::detail::throw_invalid_argument("scaling::architecture::lab_quorum_replicas",
                                                "nodes", "must be >= 1", o.nodes);
      return o;
    }
    lab::simulation* sim;
    station_serving nodes;
    lab::network net;
    std::vector<lab::network::place> places;
  };
  std::unique_ptr<state> state_;  // stable address: the scheduled events point at it
};

static_assert(quorum_transport<lab_quorum_replicas>);
static_assert(!settling_quorum_transport<lab_quorum_replicas>);

// quorum_store on lab time: its clock is the simulation's, its replicas are stations.
template <class Partition, class Clustering, class Value, class Compare = std::less<Clustering>>
using lab_quorum_store = quorum_store<Partition, Clustering, Value, Compare,
                                      lab::simulation::clock_type, lab_quorum_replicas>;

struct quorum_read_load {
  std::size_t reads = 20'000;
  double rate = 2'000.0;           // reads per second of virtual time, Poisson (open loop)
  std::size_t partitions = 1'000;  // read round robin over partition keys 0 .. partitions - 1
  quorum_level level = quorum_level::quorum;
};

struct quorum_read_figures {
  lab::histogram latency;  // of the reads that completed ok
  std::uint64_t ok = 0;
  std::uint64_t failed = 0;  // unavailable or timed out
  std::uint64_t speculated = 0;
};

// Sends `load.reads` reads of clustering key `clustering` through `store` as a Poisson stream
// and runs the simulation until every one has completed. Partition keys are integers.
// Precondition: the store runs on `sim` (its transport was built with it).
template <class Clustering, class Value, class Compare>
quorum_read_figures measure_quorum_reads(
    lab::simulation& sim, lab_quorum_store<std::int64_t, Clustering, Value, Compare>& store,
    const quorum_read_load& load, const Clustering& clustering = Clustering{}) {
  using read_result = quorum_read_result<Value>;
  quorum_read_figures out;
  std::size_t sent = 0;
  lab::poisson_arrivals arrivals{
      sim, load.rate, [&] {
        if (sent == load.reads) return;
        const auto p =
            static_cast<std::int64_t>(sent % (load.partitions == 0 ? 1 : load.partitions));
        ++sent;
        store.async_get(p, clustering, {.level = load.level}, [&out](const read_result& r) {
          if (!r.ok()) {
            ++out.failed;
            return;
          }
          ++out.ok;
          if (r.speculated) ++out.speculated;
          out.latency.record(r.latency);
        });
      }};
  arrivals.start();
  while (out.ok + out.failed < load.reads && sim.step()) {
  }
  arrivals.stop();
  sim.run();  // the replies still in flight (late answers, speculative ones)
  return out;
}

}  // namespace scaling::architecture
