// scaling/architecture/partitioned_system.hpp: stage 4 of the seed's progression, sharded
// writes, several regions and event-driven views, for the scaling lab.
//
// What it is: `partitioned_system`, a key-value service whose data is split into logical
// shards (`logical_shards`, Instagram's design) placed on physical database nodes:
//   - writes go to the node that owns the key's shard, in the home region; a client in another
//     region pays the round trip to it;
//   - every other region holds a replica of every node, fed over the lab's `network` with the
//     regions' delay: reads are served in the client's own region, at the price of
//     cross-region replication lag (measured per write);
//   - every committed write publishes a change event to a `work_queue`; consumers build two
//     derived views from the events (a per-shard write counter and a key -> version index),
//     whose lag behind the commit is measured and which converge to the data;
//   - `add_node(at)` grows the fleet while traffic runs: the shards the plan moves are copied
//     to the new node (its station charges the copy), the writes made meanwhile are logged and
//     replayed, and routing switches when the copy is caught up. No write is lost, and the
//     check after the move compares every moved key with the committed version.
//
// When to pick it: to see that writes scale with shards (and replicas do not add write
// capacity), what a hot shard costs, what multi-region reads gain and what they cost in lag.
//
//   scaling::lab::simulation sim{1};
//   scaling::architecture::partitioned_system system{sim, {.nodes = 4}};
//   system.add_node(std::chrono::seconds{10});
//   auto r = scaling::architecture::run_open_loop(sim, system, {.read_fraction = 0.5}, 20'000.0,
//   5s, 30s);
//
// Thread safety: none (one simulation).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "scaling/architecture/queue_consumers.hpp"
#include "scaling/architecture/scenario.hpp"
#include "scaling/architecture/serving.hpp"
#include "scaling/core/clock.hpp"
#include "scaling/core/error.hpp"
#include "scaling/lab/histogram.hpp"
#include "scaling/lab/network.hpp"
#include "scaling/lab/simulation.hpp"
#include "scaling/queueing/work_queue.hpp"
#include "scaling/sharding/logical_shards.hpp"

namespace scaling::architecture {

struct partitioned_system_options {
  std::uint32_t logical_shards = 256;
  std::size_t nodes = 4;  // physical database nodes in the home region
  std::size_t db_threads = 8;
  lab::distribution db_read = lab::distribution::exponential(std::chrono::milliseconds{1});
  lab::distribution db_write = lab::distribution::exponential(std::chrono::milliseconds{4});
  // Copying one key to a new node during a shard move (charged to the new node's station).
  std::chrono::nanoseconds copy_per_key = std::chrono::microseconds{20};

  std::size_t regions = 2;  // region 0 is home (writes); each other region holds replicas
  lab::distribution region_delay = lab::distribution::deterministic(std::chrono::milliseconds{40});

  std::size_t view_consumers = 2;
  std::size_t batch = 64;
  lab::distribution view_service = lab::distribution::exponential(std::chrono::microseconds{200});
  std::chrono::nanoseconds poll_interval = std::chrono::milliseconds{20};
};

struct change_event {
  std::uint64_t key = 0;
  std::uint64_t version = 0;
  std::uint32_t shard = 0;
  std::int64_t committed_ns = 0;  // commit time on the simulation's clock
};

struct partitioned_system_stats {
  std::uint64_t writes = 0;
  std::uint64_t reads = 0;
  std::vector<std::uint64_t> writes_per_node;
  lab::histogram replication_lag;  // commit -> applied in another region
  lab::histogram view_lag;         // commit -> applied to the derived views
  std::uint64_t events_published = 0;
  std::uint64_t events_applied = 0;
  // Shard moves (add_node).
  std::uint64_t shards_moved = 0;
  std::uint64_t keys_copied = 0;
  std::uint64_t writes_during_move = 0;  // logged while copying, replayed before the switch
  std::chrono::nanoseconds move_duration{0};
  std::uint64_t writes_redirected = 0;   // queued at the old owner across the switch
  std::uint64_t moved_keys_checked = 0;  // keys of moved shards, checked when stats() runs
  std::uint64_t moved_keys_wrong = 0;    // of those, not at their committed version on the new
                                         // node: must be 0 (no write lost by the move)
};

class partitioned_system {
 public:
  // Throws: scaling::invalid_argument for 0 nodes, 0 regions, or more nodes than shards.
  partitioned_system(lab::simulation& sim, partitioned_system_options options)
      : sim_(&sim),
        options_(std::move(options)),
        shards_(options_.logical_shards, node_ids(options_.nodes)),
        net_(sim),
        events_({.visibility_timeout = std::chrono::seconds{30}, .max_receives = 1000},
                sim.clock()),
        consumers_(
            sim, events_, options_.view_consumers,
            {.batch = options_.batch, .poll_interval = options_.poll_interval},
            [this](std::size_t c, const delivery<change_event>& d, std::function<void()> next) {
              apply(c, d, std::move(next));
            },
            [this] { return events_applied_ == events_published_; }) {
    if (options_.regions == 0)
      scaling::detail::throw_invalid_argument("scaling::architecture::partitioned_system",
                                              "regions", "must be >= 1", options_.regions);
    for (std::size_t r = 0; r < options_.regions; ++r) {
      regions_.push_back(net_.add_place("region-" + std::to_string(r)));
      replicas_.emplace_back();
    }
    for (std::size_t a = 0; a < options_.regions; ++a)
      for (std::size_t b = a + 1; b < options_.regions; ++b)
        net_.set_delay(regions_[a], regions_[b], options_.region_delay);
    for (std::size_t n = 0; n < options_.nodes; ++n)
      add_node_stations();
    writes_per_node_.assign(options_.nodes, 0);
    consumers_.start();
  }

  partitioned_system(const partitioned_system&) = delete;
  partitioned_system& operator=(const partitioned_system&) = delete;

  // A client in a region drawn uniformly: reads in its region, writes at the shard's home.
  void request(operation op, std::uint64_t key, std::function<void(bool)> done) {
    const std::size_t region = options_.regions == 1 ? 0 : sim_->rng().below(options_.regions);
    const std::uint32_t shard = shards_.shard_for(key);
    const std::size_t node = shards_.node_for_shard(shard);
    if (op == operation::read) {
      ++reads_;
      db_[node][region]->serve(0, work::read, [done = std::move(done)](lab::outcome o) {
        done(o == lab::outcome::served);
      });
      return;
    }
    ++writes_;
    auto write_at_home = [this, key, shard, region, done = std::move(done)]() mutable {
      const std::size_t owner = shards_.node_for_shard(shard);
      db_[owner][0]->serve(
          0, work::write,
          [this, key, shard, owner, region, done = std::move(done)](lab::outcome o) mutable {
            if (o != lab::outcome::served) return done(false);
            commit(owner, shard, key);
            if (region == 0) return done(true);
            net_.send(regions_[0], regions_[region], [done = std::move(done)] { done(true); });
          });
    };
    if (region == 0)
      write_at_home();
    else
      net_.send(regions_[region], regions_[0], std::move(write_at_home));
  }

  // Adds a database node `at` from now and moves to it the shards logical_shards plans: copy,
  // catch up on the writes made during the copy, switch routing.
  void add_node(std::chrono::nanoseconds at) {
    sim_->after(at, [this] { start_move(); });
  }

  // View consumers stop once every event is applied (for the lab's drain).
  void quiesce() noexcept { consumers_.quiesce(); }

  [[nodiscard]] std::vector<lab::station*> stations() {
    std::vector<lab::station*> out;
    for (auto& per_region : db_)
      for (auto& serving : per_region)
        out.push_back(&serving->at(0));
    for (std::size_t i = 0; i < view_serving_->servers(); ++i)
      out.push_back(&view_serving_->at(i));
    return out;
  }

  [[nodiscard]] partitioned_system_stats stats() const {
    partitioned_system_stats s = move_stats_;
    s.writes = writes_;
    s.reads = reads_;
    s.writes_per_node = writes_per_node_;
    s.replication_lag = replication_lag_;
    s.view_lag = view_lag_;
    s.events_published = events_published_;
    s.events_applied = events_applied_;
    if (moved_to_) {
      for (const auto& [key, version] : committed_) {
        if (!moving_shards_.contains(shards_.shard_for(key))) continue;
        ++s.moved_keys_checked;
        const auto it = node_data_[*moved_to_].find(key);
        if (it == node_data_[*moved_to_].end() || it->second != version) ++s.moved_keys_wrong;
      }
    }
    return s;
  }

  // The derived views against the data: true when every committed key's latest version is in
  // the index view and every shard's counter equals its committed writes.
  [[nodiscard]] bool views_converged() const {
    if (index_view_ != committed_) return false;
    return counter_view_ == committed_per_shard_;
  }
  // Every other region's replica holds the committed data.
  [[nodiscard]] bool replicas_converged() const {
    for (std::size_t r = 1; r < replicas_.size(); ++r)
      if (replicas_[r] != committed_) return false;
    return true;
  }
  [[nodiscard]] const logical_shards<std::size_t>& shards() const noexcept { return shards_; }

 private:
  static std::vector<std::size_t> node_ids(std::size_t n) {
    std::vector<std::size_t> ids(n);
    for (std::size_t i = 0; i < n; ++i)
      ids[i] = i;
    return ids;
  }

  void add_node_stations() {
    const std::size_t n = db_.size();
    std::vector<std::unique_ptr<station_serving>> per_region;
    for (std::size_t r = 0; r < options_.regions; ++r)
      per_region.push_back(std::make_unique<station_serving>(
          *sim_, "db-" + std::to_string(n) + (r == 0 ? "" : "@region-" + std::to_string(r)), 1,
          options_.db_read, options_.db_threads, options_.db_write));
    db_.push_back(std::move(per_region));
    node_data_.emplace_back();
    if (!view_serving_)
      view_serving_ = std::make_unique<station_serving>(*sim_, "views", options_.view_consumers,
                                                        options_.view_service, 1);
  }

  void commit(std::size_t owner, std::uint32_t shard, std::uint64_t key) {
    // A write queued at the old owner when its shard switched: the old node refuses it and
    // the client retries at the new owner (the retry's cost is not charged).
    if (const std::size_t current = shards_.node_for_shard(shard); current != owner) {
      owner = current;
      ++move_stats_.writes_redirected;
    }
    const std::uint64_t version = ++version_;
    node_data_[owner][key] = version;
    committed_[key] = version;
    ++committed_per_shard_[shard];
    ++writes_per_node_[owner];
    if (moving_ && moving_shards_.contains(shard)) {
      move_log_.push_back({key, version});
      ++move_stats_.writes_during_move;
    }
    const auto committed_ns = sim_->now().time_since_epoch().count();
    for (std::size_t r = 1; r < options_.regions; ++r) {
      net_.send(regions_[0], regions_[r], [this, r, key, version, committed_ns] {
        auto& v = replicas_[r][key];
        v = std::max(v, version);
        replication_lag_.record(
            std::chrono::nanoseconds{sim_->now().time_since_epoch().count() - committed_ns});
      });
    }
    if (events_.publish(change_event{key, version, shard, committed_ns})) ++events_published_;
    consumers_.wake();  // a consumer idle in the drain takes a late write's event
  }

  void start_move() {
    if (moving_) return;
    const std::size_t target = db_.size();
    add_node_stations();
    writes_per_node_.push_back(0);
    plan_ = shards_.plan_add(target);
    moving_ = true;
    move_started_ = sim_->now();
    moving_shards_.clear();
    for (const auto& m : plan_)
      moving_shards_[m.shard] = m.from;
    // Copy: the keys of the moving shards as they are now, charged at the new node.
    std::vector<std::pair<std::uint64_t, std::uint64_t>> snapshot;
    for (std::size_t from = 0; from < target; ++from)
      for (const auto& [key, version] : node_data_[from])
        if (moving_shards_.contains(shards_.shard_for(key))) snapshot.emplace_back(key, version);
    move_stats_.keys_copied = snapshot.size();
    const auto copy_time = options_.copy_per_key * static_cast<std::int64_t>(snapshot.size());
    db_[target][0]->at(0).submit(
        copy_time, [this, target, snapshot = std::move(snapshot)](const lab::job_times&) mutable {
          for (const auto& [key, version] : snapshot)
            node_data_[target][key] = version;
          finish_move(target);
        });
  }

  void finish_move(std::size_t target) {
    // Catch up: replay what was written to the moving shards during the copy, then switch.
    for (const auto& [key, version] : move_log_) {
      auto& v = node_data_[target][key];
      v = std::max(v, version);
    }
    move_log_.clear();
    shards_.add(target);  // the same plan as plan_add: routing now points at the new node
    moving_ = false;
    move_stats_.shards_moved = plan_.size();
    move_stats_.move_duration = sim_->now() - move_started_;
    moved_to_ = target;
    for (const auto& [shard, from] : moving_shards_)
      std::erase_if(node_data_[from], [&, shard = shard](const auto& kv) {
        return shards_.shard_for(kv.first) == shard;
      });
  }

  // One change event on consumer c's server: apply it to both views, ack, go on.
  void apply(std::size_t c, const delivery<change_event>& d, std::function<void()> next) {
    view_serving_->serve(c, work::write, [this, d, next = std::move(next)](lab::outcome o) {
      if (o != lab::outcome::served) return;
      const change_event& e = d.body;
      auto& v = index_view_[e.key];
      v = std::max(v, e.version);  // events may arrive out of order across consumers
      ++counter_view_[e.shard];
      ++events_applied_;
      view_lag_.record(
          std::chrono::nanoseconds{sim_->now().time_since_epoch().count() - e.committed_ns});
      (void)events_.ack(d.receipt);
      next();
    });
  }

  lab::simulation* sim_;
  partitioned_system_options options_;
  logical_shards<std::size_t> shards_;
  lab::network net_;
  std::vector<lab::network::place> regions_;
  std::vector<std::vector<std::unique_ptr<station_serving>>> db_;  // [node][region]
  std::unique_ptr<station_serving> view_serving_;
  std::vector<std::unordered_map<std::uint64_t, std::uint64_t>> node_data_;  // home copies
  std::vector<std::unordered_map<std::uint64_t, std::uint64_t>> replicas_;   // [region]
  std::unordered_map<std::uint64_t, std::uint64_t> committed_;               // the truth
  std::unordered_map<std::uint32_t, std::uint64_t> committed_per_shard_;
  std::unordered_map<std::uint64_t, std::uint64_t> index_view_;
  std::unordered_map<std::uint32_t, std::uint64_t> counter_view_;
  work_queue<change_event, manual_clock> events_;
  queue_consumers<change_event> consumers_;
  std::uint64_t version_ = 0;
  std::uint64_t writes_ = 0;
  std::uint64_t reads_ = 0;
  std::vector<std::uint64_t> writes_per_node_;
  lab::histogram replication_lag_;
  lab::histogram view_lag_;
  std::uint64_t events_published_ = 0;
  std::uint64_t events_applied_ = 0;
  // The move in progress.
  bool moving_ = false;
  logical_shards<std::size_t>::migration_plan plan_;
  std::unordered_map<std::uint32_t, std::size_t> moving_shards_;  // shard -> from
  std::vector<std::pair<std::uint64_t, std::uint64_t>> move_log_;
  lab::simulation::time_point move_started_{};
  std::optional<std::size_t> moved_to_;
  partitioned_system_stats move_stats_;
};

}  // namespace scaling::architecture
