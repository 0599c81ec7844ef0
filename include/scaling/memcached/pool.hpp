// scaling/memcached/pool.hpp: a memcached client over several servers, routed by the
// library's ketama_ring, with failover (ejection after consecutive errors, retry after a
// delay, keys remapped or sent to a gutter pool).
//
// What it is: `scaling::memcached::pool<Clock>`, a `remote_cache_tier` (get, set with a TTL,
// get_many, erase) over N memcached servers. Each key goes to the server `ketama_ring` picks
// (the placement libmemcached, pylibmc and twemproxy use, so the fleet can be shared with them).
// Each server has its own libmemcached handle, holding one connection, used by one thread at a
// time; the routing, the multi-server fan-out and the failover are this class's.
// A server that fails `eject_after` calls in a row (connection refused, timeout, broken
// connection; not "not found" or "too large") is ejected: its keys go to the other servers
// (remapped along the ring), or, when a gutter pool is configured, to the gutter servers with a
// short TTL (Facebook's "gutter": the keys of a dead server do not spill onto its
// neighbours and overload them, and stale gutter entries expire soon). After `retry_after` the
// server is tried again; one more failure ejects it again.
//
// Why libmemcached per server rather than an Asio client of the meta protocol: libmemcached
// is what a user of memcached already has installed and trusts (protocol edge cases, the
// ASCII and binary protocols, timeouts, multi-get pipelining per server); the part that is
// missing from it is a failover policy one can see and test (its own auto-eject is a global
// behaviour flag that rebuilds its continuum without telling the caller) and the gutter pool,
// which is what this class adds.
//
// When to pick it: a pure look-aside cache spread over several memcached servers. Pick
// redis::cache_tier when you also want invalidations for a near cache, or data structures.
//
//   scaling::memcached::pool cache{{.servers = {"10.0.0.1:11211", "10.0.0.2:11211"},
//                                   .gutter = {"10.0.0.9:11211"}}};
//   cache.set("user:42", "ada", std::chrono::minutes{10});
//   auto v = cache.get("user:42");
//   auto many = cache.get_many({"user:1", "user:2"});   // one mget per server, in parallel
//
// Failures: get, set and erase throw memcached::error naming the server and the command for a
// transport failure or a refused write (a value larger than the server's item size: E2BIG);
// get_many treats a failing server's keys as misses (counted in stats().errors). A key longer
// than 250 bytes or with spaces or control characters is a scaling::invalid_argument. No call
// waits past connect_timeout + io_timeout per server.
//
// Thread safety: every member may be called from any thread; calls to one server are
// serialised on its connection. Complexity: one round trip per call; get_many one round trip
// per server involved, all servers at once.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <libmemcached/memcached.h>

#include <scaling/core/clock.hpp>
#include <scaling/core/deadline.hpp>
#include <scaling/core/error.hpp>
#include <scaling/sharding/ketama_ring.hpp>

namespace scaling::memcached {

// A failed memcached call: "memcached 127.0.0.1:11211 get: CONNECTION FAILURE (...)".
class error : public std::runtime_error {
 public:
  error(std::string server, std::string command, const std::string& detail)
      : std::runtime_error("memcached " + server + " " + command + ": " + detail),
        server_(std::move(server)),
        command_(std::move(command)) {}
  [[nodiscard]] const std::string& server() const noexcept { return server_; }
  [[nodiscard]] const std::string& command() const noexcept { return command_; }

 private:
  std::string server_;
  std::string command_;
};

struct pool_options {
  // "host:port" of each server. At least one.
  std::vector<std::string> servers;
  // Consecutive transport errors before a server is ejected. >= 1.
  std::uint32_t eject_after = 3;
  // How long an ejected server is left alone before it is tried again. >= 0.
  std::chrono::milliseconds retry_after{1000};
  // Optional gutter servers: the keys of an ejected server go there (with gutter_ttl) instead
  // of being remapped to the live servers.
  std::vector<std::string> gutter{};
  // TTL of every write that goes to the gutter (caps the entry's own). > 0.
  std::chrono::milliseconds gutter_ttl{10'000};
  // libmemcached's connect and poll timeouts, per server. > 0.
  std::chrono::milliseconds connect_timeout{200};
  std::chrono::milliseconds io_timeout{200};
};

// Per-server counters.
struct server_stats {
  std::string server;
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;  // transport errors
  std::uint64_t ejections = 0;
  bool ejected = false;
};

struct pool_stats {
  std::uint64_t errors = 0;  // transport errors, all servers
  std::uint64_t ejections = 0;
  std::uint64_t remapped = 0;  // requests routed away from their ejected server
  std::uint64_t gutter_requests = 0;
  std::vector<server_stats> servers;  // the primaries, in configuration order
};

template <clock_source Clock = std::chrono::steady_clock>
class pool {
 public:
  // Connects lazily. Throws scaling::invalid_argument for bad options (no servers, a server
  // that is not host:port, a duplicate, zero thresholds or timeouts).
  explicit pool(pool_options options, Clock clock = Clock{})
      : options_(std::move(options)), clock_(std::move(clock)) {
    constexpr std::string_view who = "scaling::memcached::pool";
    if (options_.servers.empty()) {
      detail::throw_invalid_argument(who, "servers", "must name at least one server");
    }
    if (options_.eject_after == 0) {
      detail::throw_invalid_argument(who, "eject_after", "must be >= 1", options_.eject_after);
    }
    if (options_.retry_after.count() < 0) {
      detail::throw_invalid_argument(who, "retry_after", "must be >= 0 ms",
                                     options_.retry_after.count());
    }
    if (options_.gutter_ttl.count() <= 0 || options_.connect_timeout.count() <= 0 ||
        options_.io_timeout.count() <= 0) {
      detail::throw_invalid_argument(who, "timeouts", "must be > 0 ms (gutter_ttl, connect, io)");
    }
    for (const auto& s : options_.servers)
      primaries_.push_back(std::make_unique<node>(s, options_));
    for (const auto& s : options_.gutter)
      gutters_.push_back(std::make_unique<node>(s, options_));
    for (const auto& n : primaries_)
      full_ring_.add(n->name);  // throws on a duplicate
    live_ring_ = full_ring_;
    for (const auto& n : gutters_)
      gutter_ring_.add(n->name);
  }
  pool(const pool&) = delete;
  pool& operator=(const pool&) = delete;

  // The value of `key`, or nullopt when absent.
  // Throws: memcached::error on a transport failure; scaling::invalid_argument for a bad key.
  [[nodiscard]] std::optional<std::string> get(const std::string& key) {
    check_key(key);
    const route r = route_for(key);
    std::lock_guard lock{r.target->mutex};
    std::size_t length = 0;
    std::uint32_t flags = 0;
    memcached_return_t rc = MEMCACHED_SUCCESS;
    char* raw = memcached_get(r.target->use(), key.data(), key.size(), &length, &flags, &rc);
    std::unique_ptr<char, decltype(&std::free)> value{raw, &std::free};
    if (rc == MEMCACHED_NOTFOUND) return done(*r.target, std::nullopt);
    if (rc != MEMCACHED_SUCCESS) failed(*r.target, "get", rc);
    return done(*r.target, std::optional<std::string>{std::string(value.get(), length)});
  }

  // Stores `value` for `ttl` (rounded up to whole seconds; zero: no expiry; the gutter caps
  // it at gutter_ttl).
  // Throws: memcached::error on a transport failure or a refused write (E2BIG for a value
  //   larger than the server's item size); scaling::invalid_argument for a bad key.
  void set(const std::string& key, const std::string& value, std::chrono::milliseconds ttl) {
    check_key(key);
    const route r = route_for(key);
    if (r.gutter && (ttl.count() == 0 || ttl > options_.gutter_ttl)) ttl = options_.gutter_ttl;
    const auto seconds = std::chrono::ceil<std::chrono::seconds>(ttl).count();
    std::lock_guard lock{r.target->mutex};
    const memcached_return_t rc =
        memcached_set(r.target->use(), key.data(), key.size(), value.data(), value.size(),
                      static_cast<time_t>(seconds), 0);
    if (rc != MEMCACHED_SUCCESS) failed(*r.target, "set", rc, value.size());
    (void)done(*r.target, 0);
  }

  // The values of `keys`, in order: one mget per server involved, all sent before any reply
  // is read. A server that fails gives misses for its keys (counted in stats().errors).
  // Throws: scaling::invalid_argument for a bad key.
  [[nodiscard]] std::vector<std::optional<std::string>> get_many(
      const std::vector<std::string>& keys) {
    for (const auto& k : keys)
      check_key(k);
    std::vector<std::optional<std::string>> out(keys.size());
    struct batch {
      node* target = nullptr;
      std::vector<const char*> key_ptrs;
      std::vector<std::size_t> key_lengths;
      bool sent = false;
    };
    std::vector<batch> batches;
    restore_due();
    for (std::size_t i = 0; i < keys.size(); ++i) {
      node* target = route_for(keys[i], restore::no).target;
      auto it = std::find_if(batches.begin(), batches.end(),
                             [&](const batch& b) { return b.target == target; });
      if (it == batches.end()) {
        batches.push_back({target, {}, {}, false});
        it = std::prev(batches.end());
      }
      it->key_ptrs.push_back(keys[i].data());
      it->key_lengths.push_back(keys[i].size());
    }
    // Where each distinct key goes in `out` (a repeated key is copied at the end).
    std::unordered_map<std::string_view, std::size_t> first_position;
    first_position.reserve(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i)
      first_position.emplace(keys[i], i);
    // Lock in a fixed order (by address) so concurrent get_many calls cannot deadlock.
    std::sort(batches.begin(), batches.end(),
              [](const batch& a, const batch& b) { return a.target < b.target; });
    std::vector<std::unique_lock<std::mutex>> locks;
    for (auto& b : batches)
      locks.emplace_back(b.target->mutex);
    for (auto& b : batches) {
      const memcached_return_t rc = memcached_mget(b.target->use(), b.key_ptrs.data(),
                                                   b.key_lengths.data(), b.key_ptrs.size());
      if (rc == MEMCACHED_SUCCESS) {
        b.sent = true;
      } else {
        record_failure(*b.target, rc);
      }
    }
    for (auto& b : batches) {
      if (!b.sent) continue;
      memcached_return_t rc = MEMCACHED_SUCCESS;
      while (memcached_result_st* result = memcached_fetch_result(b.target->use(), nullptr, &rc)) {
        const std::string_view k{memcached_result_key_value(result),
                                 memcached_result_key_length(result)};
        if (const auto it = first_position.find(k); it != first_position.end()) {
          out[it->second] =
              std::string(memcached_result_value(result), memcached_result_length(result));
        }
        memcached_result_free(result);
      }
      if (rc != MEMCACHED_END && rc != MEMCACHED_SUCCESS && rc != MEMCACHED_NOTFOUND) {
        record_failure(*b.target, rc);
      } else {
        (void)done(*b.target, 0);
      }
    }
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const std::size_t first = first_position.at(keys[i]);
      if (first != i) out[i] = out[first];
    }
    return out;
  }

  // Deletes `key`. Returns whether it was there.
  // Throws: memcached::error on a transport failure; scaling::invalid_argument for a bad key.
  bool erase(const std::string& key) {
    check_key(key);
    const route r = route_for(key);
    std::lock_guard lock{r.target->mutex};
    const memcached_return_t rc = memcached_delete(r.target->use(), key.data(), key.size(), 0);
    if (rc == MEMCACHED_NOTFOUND) return done(*r.target, false);
    if (rc != MEMCACHED_SUCCESS) failed(*r.target, "delete", rc);
    return done(*r.target, true);
  }

  // The server `key` goes to now (its primary, a remapped live server, or a gutter server).
  [[nodiscard]] std::string server_for(const std::string& key) {
    return route_for(key).target->name;
  }

  [[nodiscard]] pool_stats stats() const {
    pool_stats s;
    {
      std::lock_guard count_lock{route_counters_};
      s.remapped = remapped_;
      s.gutter_requests = gutter_requests_;
    }
    for (const auto& n : primaries_) {
      std::lock_guard node_lock{n->counters};
      s.servers.push_back(
          {n->name, n->requests, n->errors, n->ejections, n->ejected_until.has_value()});
      s.errors += n->errors;
      s.ejections += n->ejections;
    }
    for (const auto& n : gutters_) {
      std::lock_guard node_lock{n->counters};
      s.errors += n->errors;
    }
    return s;
  }

  [[nodiscard]] const pool_options& options() const noexcept { return options_; }

 private:
  using time_point = typename Clock::time_point;

  struct handle_deleter {
    void operator()(memcached_st* m) const noexcept { memcached_free(m); }
  };

  struct node {
    node(const std::string& server, const pool_options& o)
        : name(server),
          connect_ms(static_cast<std::uint64_t>(o.connect_timeout.count())),
          io_ms(static_cast<std::uint64_t>(o.io_timeout.count())) {
      const auto colon = server.rfind(':');
      unsigned long p = 0;
      if (colon != std::string::npos) p = std::strtoul(server.c_str() + colon + 1, nullptr, 10);
      if (colon == std::string::npos || colon == 0 || p == 0 || p > 65535) {
        detail::throw_invalid_argument("scaling::memcached::pool", "servers", "must be host:port",
                                       server);
      }
      host = server.substr(0, colon);
      port = static_cast<in_port_t>(p);
      renew();
    }

    // A fresh libmemcached handle: after a retry, libmemcached's own record of the failure
    // (its "disabled until timed retry" state) must not outlive the pool's decision.
    void renew() {
      handle.reset(memcached_create(nullptr));
      memcached_st* m = handle.get();
      memcached_server_add(m, host.c_str(), port);
      memcached_behavior_set(m, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, connect_ms);
      memcached_behavior_set(m, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, io_ms);
      memcached_behavior_set(m, MEMCACHED_BEHAVIOR_RCV_TIMEOUT, io_ms * 1000);
      memcached_behavior_set(m, MEMCACHED_BEHAVIOR_SND_TIMEOUT, io_ms * 1000);
      memcached_behavior_set(m, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
      memcached_behavior_set(m, MEMCACHED_BEHAVIOR_RETRY_TIMEOUT, 0);
    }

    // The handle to use now; called with `mutex` held.
    memcached_st* use() {
      bool fresh = false;
      {
        std::lock_guard lock{counters};
        fresh = std::exchange(renew_handle, false);
      }
      if (fresh) renew();
      return handle.get();
    }

    std::string name;
    std::string host;
    in_port_t port = 0;
    std::uint64_t connect_ms;
    std::uint64_t io_ms;
    std::unique_ptr<memcached_st, handle_deleter> handle;
    std::mutex mutex;     // the libmemcached handle: one thread at a time
    std::mutex counters;  // the fields below
    std::uint64_t requests = 0;
    std::uint64_t errors = 0;
    std::uint64_t ejections = 0;
    std::uint32_t consecutive_errors = 0;
    std::optional<time_point> ejected_until;
    bool renew_handle = false;
  };

  struct route {
    node* target;
    bool gutter;
  };

  static void check_key(const std::string& key) {
    if (key.empty() || key.size() > 250) {
      detail::throw_invalid_argument("scaling::memcached::pool", "key",
                                     "must be 1-250 bytes (memcached's limit)", key.size());
    }
    for (const char c : key) {
      if (static_cast<unsigned char>(c) <= 32 || c == 127) {
        detail::throw_invalid_argument("scaling::memcached::pool", "key",
                                       "must not contain spaces or control characters", key);
      }
    }
  }

  // Transport failures count towards ejection; answers such as NOTSTORED or E2BIG do not.
  static bool transport_failure(memcached_return_t rc) noexcept {
    switch (rc) {
      case MEMCACHED_E2BIG:
      case MEMCACHED_NOTSTORED:
      case MEMCACHED_DATA_EXISTS:
      case MEMCACHED_NOTFOUND:
      case MEMCACHED_CLIENT_ERROR:
      case MEMCACHED_SERVER_ERROR:
      case MEMCACHED_BAD_KEY_PROVIDED:
        return false;
      default:
        return true;
    }
  }

  node* find(const std::string& name) const {
    for (const auto& n : primaries_)
      if (n->name == name) return n.get();
    for (const auto& n : gutters_)
      if (n->name == name) return n.get();
    return nullptr;
  }

  enum class restore { yes, no };

  route route_for(const std::string& key, restore check = restore::yes) {
    if (check == restore::yes) restore_due();
    std::shared_lock lock{ring_mutex_};
    node* primary = find(full_ring_.node_for(key));
    bool primary_ejected = false;
    {
      std::lock_guard node_lock{primary->counters};
      primary_ejected = primary->ejected_until.has_value();
    }
    if (!primary_ejected) return {primary, false};
    if (!gutter_ring_.empty()) {
      std::lock_guard count_lock{route_counters_};
      ++gutter_requests_;
      return {find(gutter_ring_.node_for(key)), true};
    }
    if (live_ring_.empty()) return {primary, false};  // all down: let the call fail fast
    std::lock_guard count_lock{route_counters_};
    ++remapped_;
    return {find(live_ring_.node_for(key)), false};
  }

  // Puts back the ejected servers whose retry_after has passed, one error from ejection.
  void restore_due() {
    const time_point now = clock_.now();
    bool any = false;
    for (const auto& n : primaries_) {
      std::lock_guard node_lock{n->counters};
      if (n->ejected_until && *n->ejected_until <= now) any = true;
    }
    if (!any) return;
    std::unique_lock lock{ring_mutex_};
    for (const auto& n : primaries_) {
      std::lock_guard node_lock{n->counters};
      if (n->ejected_until && *n->ejected_until <= now) {
        n->ejected_until.reset();
        n->consecutive_errors = options_.eject_after - 1;
        n->renew_handle = true;
        if (!live_ring_.contains(n->name)) live_ring_.add(n->name);
      }
    }
  }

  template <class T>
  T done(node& n, T value) {
    std::lock_guard node_lock{n.counters};
    ++n.requests;
    n.consecutive_errors = 0;
    return value;
  }

  void record_failure(node& n, memcached_return_t rc) {
    bool eject = false;
    {
      std::lock_guard node_lock{n.counters};
      ++n.requests;
      if (!transport_failure(rc)) return;
      ++n.errors;
      ++n.consecutive_errors;
      eject = n.consecutive_errors >= options_.eject_after && !n.ejected_until &&
              full_ring_.contains(n.name);
    }
    if (!eject) return;
    std::unique_lock lock{ring_mutex_};
    std::lock_guard node_lock{n.counters};
    if (n.ejected_until) return;
    n.ejected_until = saturating_add(clock_.now(), options_.retry_after);
    ++n.ejections;
    if (live_ring_.contains(n.name)) live_ring_.remove(n.name);
  }

  [[noreturn]] void failed(node& n, const char* command, memcached_return_t rc,
                           std::size_t value_size = 0) {
    record_failure(n, rc);
    std::string detail = memcached_strerror(n.handle.get(), rc);
    if (rc == MEMCACHED_E2BIG) {
      detail += ": a value of " + std::to_string(value_size) +
                " bytes is larger than the server's item size (memcached -I)";
    } else if (const char* last = memcached_last_error_message(n.handle.get())) {
      detail += std::string{" ("} + last + ")";
    }
    throw error(n.name, command, detail);
  }

  pool_options options_;
  Clock clock_;
  std::vector<std::unique_ptr<node>> primaries_;
  std::vector<std::unique_ptr<node>> gutters_;
  mutable std::shared_mutex ring_mutex_;  // the rings; taken before a node's counters
  ketama_ring full_ring_;
  ketama_ring live_ring_;
  ketama_ring gutter_ring_;
  mutable std::mutex route_counters_;
  std::uint64_t remapped_ = 0;
  std::uint64_t gutter_requests_ = 0;
};

}  // namespace scaling::memcached
