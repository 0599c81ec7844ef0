// scaling/redis/cache_tier.hpp: Redis as a shared cache tier (get, set with TTL, multi-get,
// delete), with optional client-side-caching invalidations for a near cache in front of it.
//
// What it is: `scaling::redis::cache_tier`, a `remote_cache_tier` over a redis::pool. With
// `tracking::on` it is also an `invalidating_cache_tier`: it keeps one more connection,
// subscribed to `__redis__:invalidate`, and turns CLIENT TRACKING on (REDIRECT to that
// connection's id: the RESP2 two-connection mode, since hiredis 0.14 has no RESP3) on every
// pooled connection before its first read, so Redis tells it which keys a read may now be
// stale for. A background thread reads the invalidations and hands them to the registered
// sink (a scaling::two_level_cache); when the invalidation connection is lost the sink is
// told to flush and to stop caching until it is back. Tracking is NOLOOP: a write made on a
// connection is not echoed back to it as an invalidation, so the sink must drop its own copy
// of a key it writes (two_level_cache's set and erase do); otherwise every fill after a miss
// would come back as an invalidation and evict the near copy the next read makes.
//
// When to pick it: the shared cache of a service that runs on several machines; with a
// two_level_cache in front for hot keys. Pick memcached::pool for a pure cache over many
// servers with client-side sharding.
//
//   scaling::redis::cache_tier redis{{.host = "10.0.0.5"},
//                                    {.invalidations = scaling::redis::tracking::on}};
//   redis.set("user:42", "ada", std::chrono::minutes{10});
//   std::optional<std::string> v = redis.get("user:42");
//   auto many = redis.get_many({"user:1", "user:2"});    // one MGET
//
// Failures: redis::error (naming the server and the command) for an unreachable server, a
// timeout, an error reply or a reply of the wrong type; never a hang past the configured
// timeouts. Tracking needs Redis >= 6.
//
// Thread safety: every member may be called from any thread.
// Complexity: one round trip per call (get_many: one MGET for all keys).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <scaling/caching/two_level_cache.hpp>
#include <scaling/redis/connection.hpp>

namespace scaling::redis {

// Whether a cache_tier turns on Redis client-side caching invalidations.
enum class tracking { off, on };

struct cache_tier_options {
  tracking invalidations = tracking::off;
  pool_options pool{};
};

// Counters of the invalidation channel.
struct cache_tier_stats {
  std::uint64_t invalidation_messages = 0;  // pushes received on __redis__:invalidate
  std::uint64_t invalidated_keys = 0;
  std::uint64_t channel_losses = 0;  // times the invalidation connection was lost
  bool channel_up = false;
};

class cache_tier {
 public:
  // Opens nothing yet for the data connections; with tracking on, starts the invalidation
  // thread (it connects, retrying with the connection's backoff).
  // Throws: scaling::invalid_argument for bad pool options.
  explicit cache_tier(endpoint server, cache_tier_options options = {})
      : pool_(server, options.pool), options_(options) {
    if (options_.invalidations == tracking::on) {
      subscriber_ = std::make_unique<connection>(server, options.pool.connection);
      thread_ = std::jthread{[this](std::stop_token stop) { listen(stop); }};
    }
  }
  cache_tier(const cache_tier&) = delete;
  cache_tier& operator=(const cache_tier&) = delete;
  ~cache_tier() {
    if (thread_.joinable()) {
      thread_.request_stop();
      wake_.notify_all();
      thread_.join();
    }
  }

  // GET. Throws redis::error.
  [[nodiscard]] std::optional<std::string> get(const std::string& key) {
    auto c = ready_connection();
    reply r = c->execute({"GET", key});
    if (r.is_nil()) return std::nullopt;
    return expect_string(r, c->server(), "GET");
  }

  // SET key value [PX ttl]; ttl zero keeps the key until deleted. Throws redis::error.
  void set(const std::string& key, const std::string& value, std::chrono::milliseconds ttl) {
    auto c = ready_connection();
    const reply r = ttl.count() > 0
                        ? c->execute({"SET", key, value, "PX", std::to_string(ttl.count())})
                        : c->execute({"SET", key, value});
    (void)expect(r, reply::type::status, c->server(), "SET");
  }

  // MGET: the values in the order of `keys`. Throws redis::error.
  [[nodiscard]] std::vector<std::optional<std::string>> get_many(
      const std::vector<std::string>& keys) {
    std::vector<std::optional<std::string>> out;
    if (keys.empty()) return out;
    std::vector<std::string_view> args;
    args.reserve(keys.size() + 1);
    args.emplace_back("MGET");
    for (const auto& k : keys)
      args.emplace_back(k);
    auto c = ready_connection();
    reply r = c->execute_range(args);
    (void)expect(r, reply::type::array, c->server(), "MGET");
    out.reserve(keys.size());
    for (auto& e : r.take_elements()) {
      if (e.is_nil()) {
        out.emplace_back();
      } else {
        out.emplace_back(expect_string(e, c->server(), "MGET"));
      }
    }
    return out;
  }

  // DEL. Returns whether the key existed. Throws redis::error.
  bool erase(const std::string& key) {
    auto c = ready_connection();
    const reply r = c->execute({"DEL", key});
    return expect(r, reply::type::integer, c->server(), "DEL").integer() > 0;
  }

  // Registers the sink that receives invalidations (nullptr: none). The sink is told at once
  // whether the channel is up. Only meaningful with tracking on.
  void set_invalidation_sink(invalidation_sink* sink) {
    std::lock_guard lock{sink_mutex_};
    sink_ = sink;
    if (sink_ != nullptr) sink_->set_coherent(channel_up_.load());
  }

  // Waits up to `timeout` for the invalidation channel to be up (tracking on). Returns
  // wait_status::ready or timed_out.
  template <class Rep, class Period>
  [[nodiscard]] wait_status wait_channel_for(std::chrono::duration<Rep, Period> timeout) {
    std::unique_lock lock{state_mutex_};
    return up_.wait_for(lock, timeout, [&] { return channel_up_.load(); }) ? wait_status::ready
                                                                           : wait_status::timed_out;
  }

  [[nodiscard]] cache_tier_stats stats() const {
    std::lock_guard lock{state_mutex_};
    cache_tier_stats s = stats_;
    s.channel_up = channel_up_.load();
    return s;
  }

  [[nodiscard]] pool& connections() noexcept { return pool_; }

 private:
  static std::string expect_string(reply& r, const endpoint& server, std::string_view command) {
    (void)expect(r, reply::type::string, server, command);
    return r.take_str();
  }

  // A pooled connection, with tracking redirected to the current invalidation connection
  // when tracking is on and that connection is up.
  pool::lease ready_connection() {
    auto c = pool_.acquire();
    if (options_.invalidations == tracking::off) return c;
    std::uint64_t generation = 0;
    long long redirect = 0;
    {
      std::lock_guard lock{state_mutex_};
      generation = generation_;
      redirect = redirect_id_;
    }
    if (generation == 0) return c;  // channel down: the sink is not caching now
    c->connect();
    if (c->tag() != generation) {
      const reply r =
          c->execute({"CLIENT", "TRACKING", "ON", "REDIRECT", std::to_string(redirect), "NOLOOP"});
      (void)expect(r, reply::type::status, c->server(), "CLIENT TRACKING");
      c->set_tag(generation);
    }
    return c;
  }

  void listen(std::stop_token stop) {
    while (!stop.stop_requested()) {
      try {
        if (!subscriber_->connected()) subscribe();
        if (auto r = subscriber_->receive_for(std::chrono::milliseconds{100})) deliver(*r);
      } catch (const error&) {
        lose_channel();
        std::unique_lock lock{state_mutex_};
        wake_.wait_for(lock, stop, subscriber_->options().reconnect_backoff_min,
                       [] { return false; });
      }
    }
    lose_channel();
  }

  void subscribe() {
    subscriber_->connect();
    const reply id = subscriber_->execute({"CLIENT", "ID"});
    (void)expect(id, reply::type::integer, subscriber_->server(), "CLIENT ID");
    pipeline sub;
    sub.add({"SUBSCRIBE", "__redis__:invalidate"});
    subscriber_->send_only(sub);
    const auto confirmed = subscriber_->receive_for(subscriber_->options().command_timeout);
    if (!confirmed || !confirmed->is_array()) {
      subscriber_->disconnect();
      throw error(error_kind::timeout, subscriber_->server().to_string(), "SUBSCRIBE",
                  "no confirmation");
    }
    // The sink hears "coherent" before anyone can see the channel up (wait_channel_for), so
    // a caller that waited for the channel finds the near cache filling.
    std::lock_guard sink_lock{sink_mutex_};
    {
      std::lock_guard lock{state_mutex_};
      redirect_id_ = id.integer();
      ++generation_counter_;
      generation_ = generation_counter_;
    }
    if (sink_ != nullptr) sink_->set_coherent(true);
    {
      std::lock_guard lock{state_mutex_};
      channel_up_ = true;
    }
    up_.notify_all();
  }

  // The sink flushes before the loss shows in stats() or channel_up.
  void lose_channel() {
    subscriber_->disconnect();
    std::lock_guard sink_lock{sink_mutex_};
    bool was_up = false;
    {
      std::lock_guard lock{state_mutex_};
      was_up = channel_up_.exchange(false);
      generation_ = 0;
    }
    if (sink_ != nullptr) sink_->set_coherent(false);
    if (was_up) {
      std::lock_guard lock{state_mutex_};
      ++stats_.channel_losses;
    }
  }

  // A pub/sub push: ["message", "__redis__:invalidate", keys-or-nil].
  void deliver(const reply& r) {
    const auto& parts = r.elements();
    if (parts.size() != 3 || parts[0].str() != "message") return;
    std::vector<std::string> keys;
    for (const auto& k : parts[2].elements())
      keys.emplace_back(k.str());
    {
      std::lock_guard lock{state_mutex_};
      ++stats_.invalidation_messages;
      stats_.invalidated_keys += keys.size();
    }
    std::lock_guard lock{sink_mutex_};
    if (sink_ == nullptr) return;
    if (parts[2].is_nil()) {
      sink_->invalidate_all();
    } else {
      sink_->invalidate(keys);
    }
  }

  pool pool_;
  cache_tier_options options_;
  std::unique_ptr<connection> subscriber_;  // used by the listening thread only
  std::mutex sink_mutex_;
  invalidation_sink* sink_ = nullptr;
  mutable std::mutex state_mutex_;
  std::condition_variable_any wake_;
  std::condition_variable_any up_;
  std::atomic<bool> channel_up_{false};
  long long redirect_id_ = 0;
  std::uint64_t generation_ = 0;  // 0 while the channel is down
  std::uint64_t generation_counter_ = 0;
  cache_tier_stats stats_;
  std::jthread thread_;  // last: stopped and joined before the members it uses go
};

}  // namespace scaling::redis
