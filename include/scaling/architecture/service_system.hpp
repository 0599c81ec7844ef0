// scaling/architecture/service_system.hpp: stage 3 of the seed's progression, services that
// own their data and hand slow work to a queue, for the scaling lab.
//
// What it is: `service_system`, the monolith split into three services, each with its own
// app servers and its own database (no service reads another's tables):
//
//   users          profile reads and writes            users-app  -> users-db
//   posts          post reads; creating a post          posts-app  -> posts-db
//                  publishes a notification job   ----> work_queue<notification_job>
//   notifications  consumers take jobs in batches,      notify-app -> notify-db
//                  process them idempotently, ack
//
// Creating a post answers the client once the post is stored and the job is queued: the
// fan-out to followers happens later, on the notification service's own capacity. The queue
// is the library's `work_queue` on the simulation's clock (visibility timeouts, redelivery and
// dead letters as in production), the stations charge service time, and consumers are
// idempotent (a job processed twice, after a redelivery, is recorded once and counted as a
// duplicate). `outage(service, at, length)` takes a service down: its stations fail (the jobs
// they held are lost before their ack, so the queue redelivers them) and its consumers stop;
// the queue holds the backlog, and it drains after recovery: nothing is lost.
//
// When to pick it: to see what decoupling buys (the write path stays fast while the slow part
// is down or overloaded) and what it costs (a backlog, its drain time, duplicate deliveries).
//
//   scaling::lab::simulation sim{1};
//   scaling::architecture::service_system system{sim, {}};
//   system.outage(scaling::architecture::service_system::service::notifications, 30s, 20s);
//   auto r = scaling::architecture::run_open_loop(sim, system, {}, 3'000.0, 5s, 60s);
//   // system.stats(): backlog peak, drain time, duplicates, lost (0)
//
// Thread safety: none (one simulation).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "scaling/architecture/queue_consumers.hpp"
#include "scaling/architecture/scenario.hpp"
#include "scaling/architecture/serving.hpp"
#include "scaling/core/clock.hpp"
#include "scaling/lab/random.hpp"
#include "scaling/lab/simulation.hpp"
#include "scaling/queueing/work_queue.hpp"

namespace scaling::architecture {

struct notification_job {
  std::uint64_t post = 0;
  std::uint64_t author = 0;
};

struct service_system_options {
  std::size_t app_servers = 2;  // per service
  std::size_t app_threads = 8;
  lab::distribution app_service = lab::distribution::exponential(std::chrono::milliseconds{2});
  std::size_t db_threads = 8;  // each service's own database
  lab::distribution db_read = lab::distribution::exponential(std::chrono::milliseconds{1});
  lab::distribution db_write = lab::distribution::exponential(std::chrono::milliseconds{4});

  // The notification work a post creates (fan-out to followers), done by the consumers.
  std::size_t consumers = 4;
  std::size_t batch = 16;  // jobs taken per receive
  lab::distribution notify_service = lab::distribution::exponential(std::chrono::milliseconds{5});
  std::chrono::nanoseconds poll_interval =
      std::chrono::milliseconds{50};  // when the queue is empty
  std::chrono::nanoseconds visibility_timeout = std::chrono::seconds{30};
};

struct service_system_stats {
  std::uint64_t posts_created = 0;
  std::uint64_t jobs_published = 0;
  std::uint64_t jobs_done = 0;     // distinct jobs processed and acked
  std::uint64_t duplicates = 0;    // deliveries of a job already done (redelivery)
  std::uint64_t redeliveries = 0;  // deliveries after the first
  std::uint64_t backlog = 0;       // published and not yet done, now
  std::uint64_t peak_backlog = 0;
  std::chrono::nanoseconds drain_time{0};  // last recovery -> backlog back to its pre-outage level
  [[nodiscard]] std::uint64_t lost() const noexcept { return jobs_published - jobs_done - backlog; }
};

class service_system {
 public:
  enum class service : std::uint8_t { users, posts, notifications };

  service_system(lab::simulation& sim, service_system_options options)
      : sim_(&sim),
        options_(std::move(options)),
        users_app_(sim, "users-app", options_.app_servers, options_.app_service,
                   options_.app_threads),
        users_db_(sim, "users-db", 1, options_.db_read, options_.db_threads, options_.db_write),
        posts_app_(sim, "posts-app", options_.app_servers, options_.app_service,
                   options_.app_threads),
        posts_db_(sim, "posts-db", 1, options_.db_read, options_.db_threads, options_.db_write),
        notify_app_(sim, "notify-app", options_.consumers, options_.notify_service, 1),
        notify_db_(sim, "notify-db", 1, options_.db_read, options_.db_threads, options_.db_write),
        jobs_({.visibility_timeout = options_.visibility_timeout, .max_receives = 1000},
              sim.clock()),
        consumers_(
            sim, jobs_, options_.consumers,
            {.batch = options_.batch, .poll_interval = options_.poll_interval},
            [this](std::size_t c, const delivery<notification_job>& job,
                   std::function<void()> next) { handle(c, job, std::move(next)); },
            [this] { return backlog() == 0; }) {
    consumers_.start();
  }

  service_system(const service_system&) = delete;
  service_system& operator=(const service_system&) = delete;

  // Reads go to users (even keys) or posts (odd keys); writes create a post.
  void request(operation op, std::uint64_t key, std::function<void(bool)> done) {
    if (op == operation::write) return create_post(key, std::move(done));
    const bool users = key % 2 == 0;
    station_serving& app = users ? users_app_ : posts_app_;
    station_serving& db = users ? users_db_ : posts_db_;
    const std::size_t server = next_app_++ % app.servers();
    app.serve(server, work::read, [&db, done = std::move(done)](lab::outcome o) mutable {
      if (o != lab::outcome::served) return done(false);
      db.serve(0, work::read,
               [done = std::move(done)](lab::outcome d) { done(d == lab::outcome::served); });
    });
  }

  // The service is down for [at, at + length) from now: its stations fail, its consumers stop.
  void outage(service s, std::chrono::nanoseconds at, std::chrono::nanoseconds length) {
    sim_->after(at, [this, s] {
      for (station_serving* st : stations_of(s))
        for (std::size_t i = 0; i < st->servers(); ++i)
          st->at(i).fail();
      if (s == service::notifications) {
        consumers_.pause();
        backlog_before_outage_ = backlog();
      }
    });
    sim_->after(at + length, [this, s] {
      for (station_serving* st : stations_of(s))
        for (std::size_t i = 0; i < st->servers(); ++i)
          st->at(i).recover();
      if (s == service::notifications) {
        recovered_at_ = sim_->now();
        draining_ = true;
        consumers_.start();
      }
    });
  }

  // Consumers stop once the queue is empty (the lab's drain calls this before running out
  // the simulation).
  void quiesce() noexcept { consumers_.quiesce(); }

  [[nodiscard]] std::vector<lab::station*> stations() {
    std::vector<lab::station*> out;
    for (station_serving* s :
         {&users_app_, &users_db_, &posts_app_, &posts_db_, &notify_app_, &notify_db_})
      for (std::size_t i = 0; i < s->servers(); ++i)
        out.push_back(&s->at(i));
    return out;
  }

  [[nodiscard]] service_system_stats stats() const {
    service_system_stats s;
    s.posts_created = posts_created_;
    s.jobs_published = published_;
    s.jobs_done = done_.size();
    s.duplicates = duplicates_;
    s.redeliveries = redeliveries_;
    s.backlog = backlog();
    s.peak_backlog = peak_backlog_;
    s.drain_time = drain_time_;
    return s;
  }
  [[nodiscard]] work_queue<notification_job, manual_clock>& jobs() noexcept { return jobs_; }

 private:
  [[nodiscard]] std::uint64_t backlog() const noexcept { return published_ - done_.size(); }

  std::vector<station_serving*> stations_of(service s) {
    switch (s) {
      case service::users:
        return {&users_app_, &users_db_};
      case service::posts:
        return {&posts_app_, &posts_db_};
      case service::notifications:
        return {&notify_app_, &notify_db_};
    }
    return {};
  }

  void create_post(std::uint64_t author, std::function<void(bool)> done) {
    const std::size_t server = next_app_++ % posts_app_.servers();
    posts_app_.serve(
        server, work::write, [this, author, done = std::move(done)](lab::outcome o) mutable {
          if (o != lab::outcome::served) return done(false);
          posts_db_.serve(0, work::write,
                          [this, author, done = std::move(done)](lab::outcome d) mutable {
                            if (d != lab::outcome::served) return done(false);
                            const std::uint64_t post = ++posts_created_;
                            if (!jobs_.publish(notification_job{post, author})) return done(false);
                            ++published_;
                            peak_backlog_ = std::max(peak_backlog_, backlog());
                            consumers_.wake();
                            done(true);  // the client is answered; the notifications happen later
                          });
        });
  }

  // One job on consumer c's server: record it in the notification database, ack, go on.
  void handle(std::size_t c, const delivery<notification_job>& job, std::function<void()> next) {
    notify_app_.serve(c, work::write, [this, job, next = std::move(next)](lab::outcome o) mutable {
      if (o != lab::outcome::served) return;  // lost with the server: redelivered later
      notify_db_.serve(0, work::write, [this, job, next = std::move(next)](lab::outcome d) {
        if (d != lab::outcome::served) return;
        if (job.receipt.delivery_count > 1) ++redeliveries_;
        // Idempotent: the notification row is keyed by the post; a second delivery finds it.
        if (!done_.insert(job.body.post).second) ++duplicates_;
        (void)jobs_.ack(job.receipt);
        if (draining_ && backlog() <= backlog_before_outage_) {
          draining_ = false;
          drain_time_ = sim_->now() - recovered_at_;
        }
        next();
      });
    });
  }

  lab::simulation* sim_;
  service_system_options options_;
  station_serving users_app_, users_db_, posts_app_, posts_db_, notify_app_, notify_db_;
  work_queue<notification_job, manual_clock> jobs_;
  queue_consumers<notification_job> consumers_;
  std::unordered_set<std::uint64_t> done_;
  std::size_t next_app_ = 0;
  std::uint64_t posts_created_ = 0;
  std::uint64_t published_ = 0;
  std::uint64_t duplicates_ = 0;
  std::uint64_t redeliveries_ = 0;
  std::uint64_t peak_backlog_ = 0;
  std::uint64_t backlog_before_outage_ = 0;
  bool draining_ = false;
  lab::simulation::time_point recovered_at_{};
  std::chrono::nanoseconds drain_time_{0};
};

}  // namespace scaling::architecture
