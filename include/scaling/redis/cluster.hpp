// scaling/redis/cluster.hpp: a Redis Cluster client that routes each command by the key's
// slot on the library's redis_slot_map and follows MOVED, ASK and TRYAGAIN.
//
// What it is: `scaling::redis::cluster_client`, one redis::pool per node and a
// `redis_slot_map<std::string>` filled from CLUSTER SLOTS. execute(key, args) sends the
// command to the node serving the key's slot (hash tags honoured: "{user:42}:cart" and
// "{user:42}:profile" share a slot). Redirections:
//   -MOVED <slot> <host:port>: the slot has moved for good; the map is updated for that slot
//     (and refreshed from CLUSTER SLOTS on the next call) and the command is sent there.
//   -ASK <slot> <host:port>: the slot is being migrated and this key is already on the
//     target; ASKING and the command are sent to the target in one pipeline, the map is kept.
//   -TRYAGAIN: a multi-key command during a migration whose keys are split; retried after
//     a short pause, up to tryagain_retries times.
//   -CLUSTERDOWN: retried like TRYAGAIN (a failover in progress).
// It is also a remote_cache_tier (get, set, get_many, erase), so two_level_cache and the
// Twitter-style timeline code can sit on a cluster.
//
// When to pick it: the data outgrew one Redis server (memory or write throughput) and the
// cluster's automatic failover is wanted. A standalone server with replicas is simpler while
// one server's memory suffices.
//
//   scaling::redis::cluster_client cluster{{{"10.0.0.1", 7000}, {"10.0.0.2", 7000}}};
//   cluster.set("{user:42}:name", "ada", 0ms);
//   auto r = cluster.execute("{user:42}:cart", {"LPUSH", "{user:42}:cart", "book"});
//
// Failures: redis::error naming the node and the command (unreachable node, timeout, an error
// reply other than a redirection, too many redirections).
// Thread safety: every member may be called from any thread.
// Complexity: one round trip per command, plus one per redirection.
#pragma once

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <scaling/redis/connection.hpp>
#include <scaling/sharding/redis_cluster.hpp>

namespace scaling::redis {

struct cluster_options {
  // Per node.
  pool_options pool{};
  // Redirections (MOVED/ASK) followed for one command before giving up. >= 1.
  std::uint32_t max_redirects = 5;
  // TRYAGAIN / CLUSTERDOWN retries, and the pause before each.
  std::uint32_t tryagain_retries = 5;
  std::chrono::milliseconds tryagain_pause{20};
};

struct cluster_stats {
  std::uint64_t commands = 0;
  std::uint64_t moved = 0;
  std::uint64_t asked = 0;
  std::uint64_t tryagain = 0;
  std::uint64_t refreshes = 0;  // CLUSTER SLOTS reads
};

class cluster_client {
 public:
  // Reads the slot map from the first seed that answers CLUSTER SLOTS.
  // Throws: scaling::invalid_argument with no seeds or bad options; redis::error when no
  //   seed answers.
  explicit cluster_client(std::vector<endpoint> seeds, cluster_options options = {})
      : seeds_(std::move(seeds)), options_(std::move(options)) {
    if (seeds_.empty()) {
      detail::throw_invalid_argument("scaling::redis::cluster_client", "seeds",
                                     "must name at least one node");
    }
    if (options_.max_redirects == 0) {
      detail::throw_invalid_argument("scaling::redis::cluster_client", "max_redirects",
                                     "must be >= 1", options_.max_redirects);
    }
    refresh();
  }
  cluster_client(const cluster_client&) = delete;
  cluster_client& operator=(const cluster_client&) = delete;

  // Rebuilds the slot map from CLUSTER SLOTS (the known nodes first, then the seeds).
  // Throws: redis::error when no node answers.
  void refresh() {
    std::vector<endpoint> candidates;
    {
      std::shared_lock lock{mutex_};
      for (const auto& n : map_.nodes())
        candidates.push_back(endpoint::parse(n));
    }
    candidates.insert(candidates.end(), seeds_.begin(), seeds_.end());
    std::optional<error> last;
    for (const auto& where : candidates) {
      try {
        const reply r = pool_for(where.to_string()).execute({"CLUSTER", "SLOTS"});
        (void)expect(r, reply::type::array, where, "CLUSTER SLOTS");
        redis_slot_map<std::string> fresh;
        for (const auto& range : r.elements()) {
          const auto& parts = range.elements();
          if (parts.size() < 3) continue;
          const auto& master = parts[2].elements();
          if (master.size() < 2) continue;
          std::string host{master[0].str()};
          if (host.empty()) host = where.host;
          const endpoint node{host, static_cast<std::uint16_t>(master[1].integer())};
          fresh.assign(static_cast<std::uint16_t>(parts[0].integer()),
                       static_cast<std::uint16_t>(parts[1].integer()), node.to_string());
        }
        std::unique_lock lock{mutex_};
        map_ = std::move(fresh);
        stale_ = false;
        ++stats_.refreshes;
        return;
      } catch (const error& e) {
        last = e;
      }
    }
    if (last) throw *last;
  }

  // Runs `args` on the node serving `key`, following redirections.
  // Returns: the reply (an error reply other than a redirection is returned as is).
  // Throws: redis::error for transport failures and when redirections or retries run out.
  reply execute(std::string_view key, std::initializer_list<std::string_view> args) {
    std::vector<std::string_view> copy(args);
    return execute_range(key, copy);
  }
  reply execute_range(std::string_view key, const std::vector<std::string_view>& args) {
    if (stale_.load()) {
      try {
        refresh();
      } catch (const error&) {
        // Keep the map we have; the command below reports the failure if there is one.
      }
    }
    const std::uint16_t slot = redis_cluster_slot(key);
    std::string node = node_for(slot);
    bool asking = false;
    std::uint32_t redirects = 0;
    std::uint32_t retries = 0;
    count(&cluster_stats::commands);
    while (true) {
      pool& p = pool_for(node);
      reply r;
      if (asking) {
        pipeline batch;
        batch.add({"ASKING"});
        batch.add_range(args);
        auto replies = p.execute(batch);
        r = std::move(replies.at(1));
        asking = false;
      } else {
        r = p.execute_range(args);
      }
      if (!r.is_error()) return r;
      const std::string_view code = r.error_code();
      if (code == "MOVED" || code == "ASK") {
        if (++redirects > options_.max_redirects) {
          throw error(error_kind::reply, node, std::string{args.size() ? args[0] : ""},
                      "more than " + std::to_string(options_.max_redirects) +
                          " redirections: " + std::string{r.str()});
        }
        const auto [to_slot, target] = parse_redirect(r.str(), node);
        if (code == "MOVED") {
          count(&cluster_stats::moved);
          std::unique_lock lock{mutex_};
          map_.on_moved(to_slot, target);
          stale_ = true;
        } else {
          count(&cluster_stats::asked);
          asking = true;
        }
        node = target;
        continue;
      }
      if (code == "TRYAGAIN" || code == "CLUSTERDOWN") {
        count(&cluster_stats::tryagain);
        if (++retries > options_.tryagain_retries) return r;
        std::this_thread::sleep_for(options_.tryagain_pause);
        node = node_for(slot);
        continue;
      }
      return r;
    }
  }

  // remote_cache_tier: GET / SET PX / DEL on the key's node; get_many pipelines one GET per
  // key to each node (MGET cannot span slots) and follows redirections key by key.
  [[nodiscard]] std::optional<std::string> get(const std::string& key) {
    reply r = execute(key, {"GET", key});
    if (r.is_nil()) return std::nullopt;
    (void)expect(r, reply::type::string, endpoint::parse(node_for(redis_cluster_slot(key))), "GET");
    return r.take_str();
  }
  void set(const std::string& key, const std::string& value, std::chrono::milliseconds ttl) {
    const std::string px = std::to_string(ttl.count());
    const reply r = ttl.count() > 0 ? execute(key, {"SET", key, value, "PX", px})
                                    : execute(key, {"SET", key, value});
    (void)expect(r, reply::type::status, endpoint::parse(node_for(redis_cluster_slot(key))), "SET");
  }
  bool erase(const std::string& key) {
    const reply r = execute(key, {"DEL", key});
    return expect(r, reply::type::integer, endpoint::parse(node_for(redis_cluster_slot(key))),
                  "DEL")
               .integer() > 0;
  }
  [[nodiscard]] std::vector<std::optional<std::string>> get_many(
      const std::vector<std::string>& keys) {
    std::vector<std::optional<std::string>> out(keys.size());
    std::map<std::string, std::vector<std::size_t>> by_node;
    for (std::size_t i = 0; i < keys.size(); ++i)
      by_node[node_for(redis_cluster_slot(keys[i]))].push_back(i);
    for (const auto& [node, positions] : by_node) {
      pipeline batch;
      for (const std::size_t i : positions)
        batch.add({"GET", keys[i]});
      auto replies = pool_for(node).execute(batch);
      for (std::size_t j = 0; j < positions.size(); ++j) {
        reply& r = replies[j];
        if (r.is_error()) r = execute(keys[positions[j]], {"GET", keys[positions[j]]});
        if (r.is_nil()) continue;
        (void)expect(r, reply::type::string, endpoint::parse(node), "GET");
        out[positions[j]] = r.take_str();
      }
    }
    return out;
  }

  // "host:port" of the node the map says serves `slot`.
  [[nodiscard]] std::string node_for(std::uint16_t slot) const {
    std::shared_lock lock{mutex_};
    return map_.node_for_slot(slot);
  }
  [[nodiscard]] redis_slot_map<std::string> slot_map() const {
    std::shared_lock lock{mutex_};
    return map_;
  }
  [[nodiscard]] cluster_stats stats() const {
    std::lock_guard lock{stats_mutex_};
    return stats_;
  }

 private:
  // "MOVED 3999 127.0.0.1:6381" -> {3999, "127.0.0.1:6381"}; a missing host means the host of
  // the node that answered.
  static std::pair<std::uint16_t, std::string> parse_redirect(std::string_view text,
                                                              const std::string& from) {
    const auto first = text.find(' ');
    const auto second = text.find(' ', first + 1);
    if (first == std::string_view::npos || second == std::string_view::npos) {
      throw error(error_kind::protocol, from, "redirect", std::string{text});
    }
    const auto slot_text = text.substr(first + 1, second - first - 1);
    std::uint16_t slot = 0;
    std::from_chars(slot_text.data(), slot_text.data() + slot_text.size(), slot);
    const endpoint to = endpoint::parse(text.substr(second + 1), endpoint::parse(from).host);
    return {slot, to.to_string()};
  }

  pool& pool_for(const std::string& node) {
    std::lock_guard lock{pools_mutex_};
    auto& p = pools_[node];
    if (!p) p = std::make_unique<pool>(endpoint::parse(node), options_.pool);
    return *p;
  }

  void count(std::uint64_t cluster_stats::*field) {
    std::lock_guard lock{stats_mutex_};
    ++(stats_.*field);
  }

  std::vector<endpoint> seeds_;
  cluster_options options_;
  mutable std::shared_mutex mutex_;  // map_
  redis_slot_map<std::string> map_;
  std::atomic<bool> stale_{false};
  std::mutex pools_mutex_;
  std::map<std::string, std::unique_ptr<pool>> pools_;  // never erased: references stay valid
  mutable std::mutex stats_mutex_;
  cluster_stats stats_;
};

}  // namespace scaling::redis
