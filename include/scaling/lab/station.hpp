// scaling/lab/station.hpp: a server pool with a queue, the lab's stand-in for a machine.
//
// What it is: `lab::station`, c identical servers in front of one queue, inside a
// `lab::simulation`. The queue discipline is first-come-first-served (the default),
// last-come-first-served, or non-preemptive priority: jobs carry a class (0 the most urgent),
// and a free server takes the oldest job of the most urgent class waiting (acks ahead of bulk
// work, interactive reads ahead of batch scans). A job submitted to it waits for a free server, is
// served for a time drawn from the station's service law (or given by the caller, when the block in
// front decided the work: a cache hit is cheaper than a miss), then its completion callback
// runs with its timings. The station keeps the figures a capacity planner reads off a real
// server: utilization, time-averaged queue length and number in system, waiting and response
// time histograms, throughput, and the jobs it rejected (a bounded queue) or lost (a failure).
//
// When to pick it: for every resource whose capacity the lab should model (app servers, a
// database primary, replicas, a cache server, queue consumers, a network link).
//
//   scaling::lab::simulation sim{1};
//   scaling::lab::station db{sim, {.name = "primary", .servers = 4,
//                                  .service = scaling::lab::distribution::exponential(5ms)}};
//   db.submit([](const scaling::lab::job_times& t) { /* t.wait, t.sojourn */ });
//   // With .discipline = queue_discipline::priority and .priority_classes = 2:
//   db.submit({.priority = 0}, [](const scaling::lab::job_times&) { /* served first */ });
//   sim.run_for(1s);
//   double rho = db.stats().utilization;
//
// Failures: fail() takes the station down: jobs in service and in the queue are lost (their
// callbacks run with `outcome::lost`), new jobs are refused (`outcome::refused`) until
// recover(). That is a crashed server, not a slow one; a slow one is a station whose service
// law changes: set_service().
// Thread safety: none (it lives in one simulation). Complexity: O(1) per job, plus the
// simulation's O(log n) per event.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "scaling/core/error.hpp"
#include "scaling/lab/histogram.hpp"
#include "scaling/lab/random.hpp"
#include "scaling/lab/simulation.hpp"

namespace scaling::lab {

// How a job left the station.
enum class outcome : std::uint8_t {
  served,   // waited, was served, completed
  refused,  // the queue was full, or the station was down, when it arrived
  lost,     // the station failed while the job was queued or in service
};

struct job_times {
  outcome result = outcome::served;
  std::chrono::nanoseconds wait{};     // arrival -> start of service
  std::chrono::nanoseconds service{};  // start -> end of service (0 unless served)
  std::chrono::nanoseconds sojourn{};  // arrival -> departure
};

// The order in which waiting jobs are served.
enum class queue_discipline : std::uint8_t {
  fifo,      // first come, first served
  lifo,      // last come, first served (non-preemptive)
  priority,  // the most urgent class first (0 is the most urgent), FIFO within a class;
             // non-preemptive: a job in service finishes
};

// What a job brings: its own service time (else one is drawn from the station's law) and its
// class under queue_discipline::priority (ignored by fifo and lifo).
struct job_spec {
  std::optional<std::chrono::nanoseconds> service;
  std::uint8_t priority = 0;
};

struct station_options {
  std::string name = "station";
  // Identical servers working in parallel (the c of M/M/c). Must be >= 1.
  std::size_t servers = 1;
  // The service-time law of a job that does not bring its own.
  distribution service = distribution::exponential(std::chrono::milliseconds{1});
  // Jobs allowed to wait (not counting those in service); an arrival beyond it is refused.
  std::size_t queue_limit = std::numeric_limits<std::size_t>::max();
  queue_discipline discipline = queue_discipline::fifo;
  // Classes under queue_discipline::priority (job_spec::priority < priority_classes); 1..256.
  std::size_t priority_classes = 2;
};

// Figures since construction or the last reset_stats(), over `elapsed` of virtual time.
struct station_stats {
  std::string name;
  std::size_t servers = 0;
  std::chrono::nanoseconds elapsed{};
  std::uint64_t arrivals = 0;
  std::uint64_t completions = 0;
  std::uint64_t refused = 0;
  std::uint64_t lost = 0;
  double utilization = 0;        // busy server-time / (servers x elapsed), in [0, 1]
  double mean_queue_length = 0;  // time-averaged number waiting (Lq)
  double mean_in_system = 0;     // time-averaged number waiting or in service (L)
  double arrival_rate = 0;       // arrivals per second of virtual time
  double throughput = 0;         // completions per second of virtual time
  std::size_t max_queue_length = 0;
  std::size_t queue_length = 0;  // now
  std::size_t busy = 0;          // servers busy now
  histogram wait;                // of completed jobs
  histogram sojourn;             // of completed jobs
};

class station {
 public:
  using duration = std::chrono::nanoseconds;
  using callback = std::function<void(const job_times&)>;

  // Throws: scaling::invalid_argument if options.servers == 0, or priority_classes is not in
  // [1, 256].
  station(simulation& sim, station_options options)
      : sim_(&sim), options_(std::move(options)), since_(sim.now()), last_change_(sim.now()) {
    if (options_.servers == 0)
      detail::throw_invalid_argument("scaling::lab::station", "servers", "must be >= 1",
                                     options_.servers);
    if (options_.priority_classes == 0 || options_.priority_classes > 256)
      detail::throw_invalid_argument("scaling::lab::station", "priority_classes",
                                     "must be in [1, 256]", options_.priority_classes);
    lanes_.resize(options_.discipline == queue_discipline::priority ? options_.priority_classes
                                                                    : 1);
  }

  station(const station&) = delete;
  station& operator=(const station&) = delete;

  // A job arrives now, to be served for a time drawn from the station's law. `done` runs
  // exactly once, when it completes, is refused or is lost (possibly inside this call, for a
  // refusal).
  void submit(callback done) { admit(std::nullopt, 0, std::move(done)); }
  // A job arrives now with its own service time (the caller decided the work).
  void submit(duration service, callback done) {
    if (service < duration::zero())
      detail::throw_invalid_argument("scaling::lab::station::submit", "service", "must be >= 0 ns",
                                     service.count());
    admit(service, 0, std::move(done));
  }
  // A job arrives now, as `spec` says.
  // Throws: scaling::invalid_argument if spec.service < 0, or spec.priority is not below
  // priority_classes under queue_discipline::priority.
  void submit(const job_spec& spec, callback done) {
    if (spec.service && *spec.service < duration::zero())
      detail::throw_invalid_argument("scaling::lab::station::submit", "spec.service",
                                     "must be >= 0 ns", spec.service->count());
    if (options_.discipline == queue_discipline::priority &&
        spec.priority >= options_.priority_classes)
      detail::throw_invalid_argument("scaling::lab::station::submit", "spec.priority",
                                     "must be < priority_classes", spec.priority);
    admit(spec.service, spec.priority, std::move(done));
  }

  // The station crashes: every queued and in-service job is lost, arrivals are refused.
  void fail() {
    if (down_) return;
    account();
    down_ = true;
    ++epoch_;  // completions scheduled before the failure are ignored
    // Take every job out first, so that a callback that resubmits sees a consistent station.
    std::vector<std::pair<time_point, callback>> dropped;
    dropped.reserve(busy_ + queued_);
    for (auto& j : in_flight_)
      if (j) dropped.emplace_back(j->arrived, std::move(j->done));
    for (auto& lane : lanes_) {
      for (auto& j : lane)
        dropped.emplace_back(j.arrived, std::move(j.done));
      lane.clear();
    }
    in_flight_.clear();
    free_slots_.clear();
    queued_ = 0;
    busy_ = 0;
    lost_ += dropped.size();
    for (auto& [arrived, done] : dropped) {
      const duration waited = sim_->now() - arrived;
      done(job_times{outcome::lost, waited, duration::zero(), waited});
    }
  }
  // The station is back, empty.
  void recover() noexcept { down_ = false; }
  [[nodiscard]] bool down() const noexcept { return down_; }

  // Changes the service law for jobs that start from now on (a replica that became slow).
  void set_service(distribution service) { options_.service = std::move(service); }

  // Starts a new measurement window (after a warm-up, say). Jobs in progress stay.
  void reset_stats() {
    account();
    since_ = sim_->now();
    arrivals_ = completions_ = refused_ = lost_ = 0;
    busy_area_ = queue_area_ = system_area_ = 0;
    max_queue_ = queued_;
    wait_.reset();
    sojourn_.reset();
  }

  [[nodiscard]] station_stats stats() const {
    station_stats s;
    s.name = options_.name;
    s.servers = options_.servers;
    const time_point now = sim_->now();
    s.elapsed = now - since_;
    s.arrivals = arrivals_;
    s.completions = completions_;
    s.refused = refused_;
    s.lost = lost_;
    const auto dt = static_cast<long double>((now - last_change_).count());
    const long double busy_area = busy_area_ + dt * static_cast<long double>(busy_);
    const long double queue_area = queue_area_ + dt * static_cast<long double>(queued_);
    const long double system_area = system_area_ + dt * static_cast<long double>(queued_ + busy_);
    const auto elapsed = static_cast<long double>(s.elapsed.count());
    if (elapsed > 0) {
      s.utilization =
          static_cast<double>(busy_area / (elapsed * static_cast<long double>(options_.servers)));
      s.mean_queue_length = static_cast<double>(queue_area / elapsed);
      s.mean_in_system = static_cast<double>(system_area / elapsed);
      s.arrival_rate = static_cast<double>(static_cast<long double>(arrivals_) * 1e9L / elapsed);
      s.throughput = static_cast<double>(static_cast<long double>(completions_) * 1e9L / elapsed);
    }
    s.max_queue_length = max_queue_;
    s.queue_length = queued_;
    s.busy = busy_;
    s.wait = wait_;
    s.sojourn = sojourn_;
    return s;
  }

  [[nodiscard]] const station_options& options() const noexcept { return options_; }
  [[nodiscard]] std::size_t queue_length() const noexcept { return queued_; }
  // Jobs of class `priority` waiting now (0 unless the discipline is priority).
  [[nodiscard]] std::size_t queue_length(std::uint8_t priority) const noexcept {
    return priority < lanes_.size() ? lanes_[priority].size() : 0;
  }
  [[nodiscard]] std::size_t busy() const noexcept { return busy_; }

 private:
  using time_point = simulation::time_point;
  struct job {
    time_point arrived;
    std::optional<duration> service;
    callback done;
  };
  struct in_service {
    time_point arrived;
    time_point started;
    callback done;
  };

  void admit(std::optional<duration> service, std::uint8_t priority, callback done) {
    account();
    ++arrivals_;
    if (down_ || (busy_ == options_.servers && queued_ >= options_.queue_limit)) {
      ++refused_;
      done(job_times{outcome::refused, duration::zero(), duration::zero(), duration::zero()});
      return;
    }
    job j{sim_->now(), service, std::move(done)};
    if (busy_ < options_.servers) {
      start(std::move(j));
    } else {
      lanes_[options_.discipline == queue_discipline::priority ? priority : 0].push_back(
          std::move(j));
      ++queued_;
      if (queued_ > max_queue_) max_queue_ = queued_;
    }
  }

  void start(job j) {
    ++busy_;
    const duration service = j.service ? *j.service : options_.service.sample(sim_->rng());
    std::size_t slot;
    if (free_slots_.empty()) {
      slot = in_flight_.size();
      in_flight_.emplace_back();
    } else {
      slot = free_slots_.back();
      free_slots_.pop_back();
    }
    in_flight_[slot].emplace(in_service{j.arrived, sim_->now(), std::move(j.done)});
    const std::uint64_t epoch = epoch_;
    sim_->after(service, [this, slot, epoch] { finish(slot, epoch); });
  }

  void finish(std::size_t slot, std::uint64_t epoch) {
    if (epoch != epoch_) return;  // the station failed since this job started
    account();
    in_service s = std::move(*in_flight_[slot]);
    in_flight_[slot].reset();
    free_slots_.push_back(slot);
    --busy_;
    ++completions_;
    const time_point now = sim_->now();
    const job_times t{outcome::served, s.started - s.arrived, now - s.started, now - s.arrived};
    wait_.record(t.wait);
    sojourn_.record(t.sojourn);
    if (queued_ > 0) start(take_next());
    s.done(t);
  }

  // The job a free server takes, as the discipline says. Precondition: queued_ > 0.
  job take_next() {
    --queued_;
    if (options_.discipline == queue_discipline::lifo) {
      job j = std::move(lanes_[0].back());
      lanes_[0].pop_back();
      return j;
    }
    for (auto& lane : lanes_) {
      if (lane.empty()) continue;
      job j = std::move(lane.front());
      lane.pop_front();
      return j;
    }
    std::abort();  // unreachable: queued_ counted a job that no lane holds
  }

  // Integrates the number busy / waiting / in system over the time since the last change.
  void account() noexcept {
    const time_point now = sim_->now();
    const auto dt = static_cast<long double>((now - last_change_).count());
    busy_area_ += dt * static_cast<long double>(busy_);
    queue_area_ += dt * static_cast<long double>(queued_);
    system_area_ += dt * static_cast<long double>(queued_ + busy_);
    last_change_ = now;
  }

  simulation* sim_;
  station_options options_;
  std::vector<std::deque<job>> lanes_;  // one per class (priority), else one
  std::size_t queued_ = 0;
  std::deque<std::optional<in_service>> in_flight_;  // by slot; stable under growth
  std::vector<std::size_t> free_slots_;
  std::size_t busy_ = 0;
  bool down_ = false;
  std::uint64_t epoch_ = 0;
  time_point since_;
  time_point last_change_;
  std::uint64_t arrivals_ = 0;
  std::uint64_t completions_ = 0;
  std::uint64_t refused_ = 0;
  std::uint64_t lost_ = 0;
  long double busy_area_ = 0;
  long double queue_area_ = 0;
  long double system_area_ = 0;
  std::size_t max_queue_ = 0;
  histogram wait_;
  histogram sojourn_;
};

}  // namespace scaling::lab
