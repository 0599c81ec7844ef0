// scaling/architecture/web_system.hpp: stages 1 and 2 of the seed's progression as one
// composition, for the scaling lab.
//
// What it is: `web_system<Cache, Balancing>`, a read/write service wired from the blocks:
//
//   client -> [CDN edge: edge_cache (HTTP rules, a byte bound, max-age = the TTL, a purge on
//              each write), cacheable reads only; objects of lab::object_sizes bytes]
//          -> load_balanced app tier (replica_selector<Balancing> over app-server stations)
//          -> read_through (the app cache: Cache, or no_cache)
//          -> store_reads over a replicated_store (replica reads, read-your-writes by position),
//             every object present from the start at version 0 (with_initial_value)
//          /  primary_writes (writes at the primary, then invalidate with the commit position)
//
// The edge is the library's HTTP edge cache with an asynchronous origin: a miss becomes a
// request to the app tier, whose answer comes back as an `object_response` carrying
// `Cache-Control: public, max-age=<cdn_ttl>` and the object's size. The edge's byte bound is
// cdn_capacity objects of the mean size (plus their keys and headers), so large objects take
// more room than small ones; edge_bytes() and origin_bytes() count the bytes each side served.
//
// Stage 1 (`stage_1_options`) is this shape with one app server, no app cache and every read
// at the primary; stage 2 (`stage_2_options`) adds app servers behind the balancer, read
// replicas and the application cache. The blocks decide (the edge and app caches hit or miss,
// the balancer picks by observed latency, the store routes by staleness and position), the
// lab's stations charge the service times, and the replicas apply the log after their lag on
// virtual time.
//
// When to pick it: to measure what stage 2 buys over stage 1 on a workload, where each breaks
// and why (scenario.hpp drives it). Not a server: the in-process blocks are used as they are.
//
//   scaling::lab::simulation sim{1};
//   scaling::architecture::web_system<scaling::cache<std::uint64_t, std::uint64_t,
//   scaling::w_tinylfu>>
//       system{sim, scaling::architecture::stage_2_options()};
//   auto r = scaling::architecture::run_open_loop(sim, system, {}, 8'000.0, 5s, 30s);
//
// Thread safety: none (one simulation).
#pragma once

#include <charconv>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "scaling/architecture/load_balanced.hpp"
#include "scaling/architecture/object_response.hpp"
#include "scaling/architecture/read_through.hpp"
#include "scaling/architecture/replicated.hpp"
#include "scaling/architecture/scenario.hpp"
#include "scaling/architecture/serving.hpp"
#include "scaling/caching/cache.hpp"
#include "scaling/cdn/edge_cache.hpp"
#include "scaling/lab/random.hpp"
#include "scaling/lab/simulation.hpp"
#include "scaling/replication/backup.hpp"
#include "scaling/replication/replica_selector.hpp"
#include "scaling/replication/replicated_store.hpp"

namespace scaling::architecture {

// A cache tier that holds nothing: the read path of a system without an application cache.
template <class Key, class Value>
struct no_cache {
  explicit no_cache(std::size_t /*capacity*/ = 0) noexcept {}
  [[nodiscard]] std::optional<Value> get(const Key& /*key*/) const noexcept { return std::nullopt; }
  void put(const Key& /*key*/, const Value& /*value*/) noexcept {}
  bool erase(const Key& /*key*/) noexcept { return false; }
};

struct web_system_options {
  // CDN edge: cacheable reads are those of keys with key % 100 < cdn_cacheable_percent (the
  // static and semi-static share); 0 turns the edge off.
  unsigned cdn_cacheable_percent = 0;
  std::size_t cdn_capacity = 100'000;  // objects of the mean size (the edge's bound is bytes)
  std::chrono::nanoseconds cdn_ttl = std::chrono::seconds{60};
  lab::distribution edge_service = lab::distribution::exponential(std::chrono::microseconds{200});
  std::size_t edge_threads = 64;

  std::size_t app_servers = 1;
  std::size_t app_threads = 8;  // worker threads (cores) per app server
  lab::distribution app_service = lab::distribution::exponential(std::chrono::milliseconds{2});

  std::size_t cache_capacity = 0;  // app cache entries (the Cache type decides eviction)

  std::size_t replicas = 1;    // besides the primary (>= 1; with read_replicas off they only
                               // receive the log, as a standby or a backup stream would)
  bool read_replicas = false;  // route reads to replicas (else every read at the primary)
  std::chrono::nanoseconds replica_lag = std::chrono::milliseconds{100};
  std::size_t db_threads = 8;  // per database member
  lab::distribution db_read = lab::distribution::exponential(std::chrono::milliseconds{1});
  lab::distribution db_write = lab::distribution::exponential(std::chrono::milliseconds{4});

  // Each object's size: what the edge stores and the bytes each tier serves.
  lab::object_sizes object_size{1'024};

  // Backups of the primary (base backups + archived log); none when empty.
  std::optional<backup_options> backups;
};

// What losing the primary cost: the archive's report, and the restore that follows.
struct primary_loss {
  primary_loss_report loss;
  std::chrono::nanoseconds recovery_time{0};  // the restore's duration: the database is down
  log_position restored_position = 0;
};

// Stage 1: one app server, the CDN in front, a primary that serves everything.
inline web_system_options stage_1_options() {
  web_system_options o;
  o.cdn_cacheable_percent = 20;
  o.backups = backup_options{.base_backup_interval = std::chrono::hours{24},
                             .archive_timeout = std::chrono::seconds{60}};
  return o;
}
// Stage 2: four app servers behind a balancer, two read replicas, an app cache of 100,000.
inline web_system_options stage_2_options() {
  web_system_options o = stage_1_options();
  o.app_servers = 4;
  o.cache_capacity = 100'000;
  o.replicas = 2;
  o.read_replicas = true;
  return o;
}

template <class Cache = no_cache<std::uint64_t, std::uint64_t>,
          selection_policy Balancing = peak_ewma>
requires read_cache<Cache, std::uint64_t, std::uint64_t>
class web_system {
 public:
  using key_type = std::uint64_t;
  using value_type = std::uint64_t;  // the object's version: a read sees which write it reflects
  using store_type = replicated_store<key_type, value_type, round_robin, manual_clock>;
  using edge_cache_type = edge_cache<object_response>;
  using balancer_type = replica_selector<replica_endpoint, Balancing, manual_clock>;

  web_system(lab::simulation& sim, web_system_options options)
      : sim_(&sim),
        options_(std::move(options)),
        edge_cache_(edge_options<object_response>{
            .capacity_bytes = edge_bytes_for(options_),
            .async_origin =
                [this](const origin_request& r, origin_callback<object_response> answer) {
                  fetch_for_edge(r, std::move(answer));
                },
            .clock = sim.clock()}),
        edge_serving_(sim, "edge", 1, options_.edge_service, options_.edge_threads),
        app_serving_(sim, "app", options_.app_servers, options_.app_service, options_.app_threads),
        balancer_(app_members(options_.app_servers), {}, sim.clock()),
        tier_(balancer_, app_serving_),
        store_({.replicas = options_.replicas, .default_lag = options_.replica_lag}, sim.clock()),
        db_serving_(sim, "db", options_.replicas + 1, options_.db_read, options_.db_threads,
                    options_.db_write),
        reads_(store_, db_serving_, read_options_of(options_)),
        catalogue_(reads_, value_type{0}),
        writes_(store_, db_serving_),
        app_cache_(options_.cache_capacity == 0 ? 1 : options_.cache_capacity),
        path_(app_cache_, catalogue_) {
    if (options_.backups) {
      backups_.emplace(*options_.backups, sim.clock());
      backups_->tick();  // the first base backup, of the empty database
    }
  }

  web_system(const web_system&) = delete;
  web_system& operator=(const web_system&) = delete;

  void request(operation op, key_type key, std::function<void(bool)> done) {
    if (op == operation::read && cdn_cacheable(key)) {
      edge_serving_.serve(
          0, work::read, [this, key, done = std::move(done)](lab::outcome o) mutable {
            if (o != lab::outcome::served) return done(false);
            edge_cache_.get_async(
                {.key = url_of(key)},
                [this, done = std::move(done)](edge_result<object_response> r) mutable {
                  const bool from_cache = r.status == cache_status::hit ||
                                          r.status == cache_status::stale ||
                                          r.status == cache_status::revalidated;
                  ++(from_cache ? edge_hits_ : edge_misses_);
                  const bool ok = r.response.status() == 200;
                  if (ok) edge_bytes_ += r.response.body_bytes();
                  done(ok);
                });
          });
      return;
    }
    to_app(op, key, std::move(done));
  }

  [[nodiscard]] std::vector<lab::station*> stations() {
    std::vector<lab::station*> out;
    for (auto* serving : {&edge_serving_, &app_serving_, &db_serving_})
      for (std::size_t i = 0; i < serving->servers(); ++i)
        out.push_back(&serving->at(i));
    return out;
  }

  // The primary's disk is lost now: the writes not yet archived are gone, and the database is
  // down (its stations fail, losing the requests they held) for the restore's duration. The
  // in-process store keeps its contents: the report counts what a real restore would lose
  // (the archive itself is rolled back to what it holds).
  // Throws: std::logic_error if the system was built without backups.
  primary_loss lose_primary() {
    if (!backups_)
      throw std::logic_error("scaling::architecture::web_system: no backups configured");
    backups_->tick();  // the archive timer fires for a segment that is due
    primary_loss result;
    result.loss = backups_->lose_primary();
    const auto restored = backups_->restore(sim_->now());
    result.recovery_time = restored.duration;
    result.restored_position = restored.position;
    for (std::size_t i = 0; i < db_serving_.servers(); ++i)
      db_serving_.at(i).fail();
    sim_->after(result.recovery_time, [this] {
      for (std::size_t i = 0; i < db_serving_.servers(); ++i)
        db_serving_.at(i).recover();
    });
    return result;
  }
  [[nodiscard]] const std::optional<backup_archive<key_type, value_type, manual_clock>>& backups()
      const noexcept {
    return backups_;
  }

  [[nodiscard]] read_through_stats app_cache_stats() const noexcept { return path_.stats(); }
  [[nodiscard]] Cache& app_cache() noexcept { return app_cache_; }
  [[nodiscard]] std::uint64_t edge_hits() const noexcept { return edge_hits_; }
  [[nodiscard]] std::uint64_t edge_misses() const noexcept { return edge_misses_; }
  // Bytes of objects the edge answered clients with, and bytes the app tier sent the edge.
  [[nodiscard]] std::uint64_t edge_bytes() const noexcept { return edge_bytes_; }
  [[nodiscard]] std::uint64_t origin_bytes() const noexcept { return origin_bytes_; }
  [[nodiscard]] edge_cache_type& edge() noexcept { return edge_cache_; }
  [[nodiscard]] store_type& store() noexcept { return store_; }
  [[nodiscard]] balancer_type& balancer() noexcept { return balancer_; }
  [[nodiscard]] station_serving& app_servers() noexcept { return app_serving_; }
  [[nodiscard]] station_serving& database() noexcept { return db_serving_; }
  [[nodiscard]] const web_system_options& options() const noexcept { return options_; }

 private:
  static std::vector<replica_endpoint> app_members(std::size_t n) {
    std::vector<replica_endpoint> members;
    for (std::size_t i = 0; i < n; ++i)
      members.push_back({.id = "app-" + std::to_string(i)});
    return members;
  }
  static read_options read_options_of(const web_system_options& o) {
    read_options r;
    r.mode = o.read_replicas ? read_mode::replica_preferred : read_mode::primary;
    return r;
  }
  [[nodiscard]] bool cdn_cacheable(key_type key) const noexcept {
    return options_.cdn_cacheable_percent > 0 && key % 100 < options_.cdn_cacheable_percent;
  }
  static std::size_t edge_bytes_for(const web_system_options& o) {
    // Each entry: the object, its key ("/o/" and up to 20 digits) and its header fields.
    constexpr std::size_t per_entry = 96;
    return std::max<std::size_t>(o.cdn_capacity, 1) * (o.object_size.mean_bytes() + per_entry);
  }
  static std::string url_of(key_type key) { return "/o/" + std::to_string(key); }

  // The edge's origin: the request goes through the app tier like any other read, and its
  // answer comes back cacheable for cdn_ttl.
  void fetch_for_edge(const origin_request& request, origin_callback<object_response> answer) {
    key_type key = 0;
    const std::string_view path = request.key;
    if (path.size() <= 3 ||
        std::from_chars(path.data() + 3, path.data() + path.size(), key).ec != std::errc{}) {
      answer(object_response{404, 0, 0});
      return;
    }
    read_at_app(key, [this, key, answer = std::move(answer)](std::optional<value_type> v) {
      if (!v) return answer(std::nullopt);  // the app tier failed: the edge answers 502
      const std::uint64_t bytes = options_.object_size(key);
      origin_bytes_ += bytes;
      object_response r{200, bytes, *v};
      r.set_header(
          "Cache-Control",
          "public, max-age=" +
              std::to_string(
                  std::chrono::duration_cast<std::chrono::seconds>(options_.cdn_ttl).count()));
      answer(std::move(r));
    });
  }

  void read_at_app(key_type key, std::function<void(std::optional<value_type>)> done) {
    tier_.dispatch([this, key, done = std::move(done)](lab::outcome o,
                                                       std::function<void(bool)> finish) mutable {
      if (o != lab::outcome::served) {
        finish(false);
        return done(std::nullopt);
      }
      path_.async_get(
          key, [finish = std::move(finish), done = std::move(done)](reply<value_type> r) mutable {
            const bool ok = r.status != reply_status::failed;
            finish(ok);
            done(ok ? std::optional<value_type>{r.value.value_or(0)} : std::nullopt);
          });
    });
  }

  void to_app(operation op, key_type key, std::function<void(bool)> done) {
    if (op == operation::read)
      return read_at_app(
          key, [done = std::move(done)](std::optional<value_type> v) { done(v.has_value()); });
    tier_.dispatch([this, key, done = std::move(done)](lab::outcome o,
                                                       std::function<void(bool)> finish) mutable {
      if (o != lab::outcome::served) {
        finish(false);
        return done(false);
      }
      const value_type value = ++version_;
      writes_.async_write(key, value,
                          [this, key, value, finish = std::move(finish),
                           done = std::move(done)](write_ack ack) mutable {
                            const bool ok = ack.status == reply_status::ok;
                            if (ok) {
                              if (backups_) {
                                backups_->record(ack.position, key, value);
                                backups_->tick();
                              }
                              path_.invalidate(key, ack.position);
                              if (cdn_cacheable(key)) edge_cache_.purge(url_of(key));
                            }
                            finish(ok);
                            done(ok);
                          });
    });
  }

  lab::simulation* sim_;
  web_system_options options_;
  edge_cache_type edge_cache_;
  station_serving edge_serving_;
  station_serving app_serving_;
  balancer_type balancer_;
  load_balanced<balancer_type, station_serving> tier_;
  store_type store_;
  station_serving db_serving_;
  store_reads<key_type, value_type, store_type, station_serving> reads_;
  // Every object exists from the start, at version 0: the caches fill on every miss.
  with_initial_value<key_type, value_type, decltype(reads_)> catalogue_;
  primary_writes<key_type, value_type, store_type, station_serving> writes_;
  Cache app_cache_;
  read_through<key_type, value_type, Cache, decltype(catalogue_)> path_;
  std::optional<backup_archive<key_type, value_type, manual_clock>> backups_;
  value_type version_ = 0;
  std::uint64_t edge_hits_ = 0;
  std::uint64_t edge_misses_ = 0;
  std::uint64_t edge_bytes_ = 0;
  std::uint64_t origin_bytes_ = 0;
};

}  // namespace scaling::architecture
