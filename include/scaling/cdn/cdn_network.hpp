// scaling/cdn/cdn_network.hpp: a CDN in one object: POPs of edge caches, a shield tier, routing.
//
// What it is: `scaling::cdn_network<Response>` models what a CDN runs: points of presence
// (POPs), each with several `edge_cache` servers; a client is routed to its nearest online
// POP by a latency table (what anycast or GeoDNS approximate), and inside the POP a
// consistent-hash ring (`hash_ring`) picks the one server that owns the URL, so a POP stores
// each object once. Optionally every edge server fetches through a shield tier (a POP of its
// own next to the origin), so N POPs cost the origin one fetch per object instead of N.
// Purges reach every tier, shield first (otherwise an edge could refill from a stale shield).
//
// When to pick it: simulations, examples and tests of CDN behaviour in one process (origin
// offload, tier hit ratios, purge reach, POP failover). A real deployment runs one
// `edge_cache` per server (see `edge_server`) and lets the network do the routing.
//
//   scaling::cdn_network<> cdn{{.pops = {{"fra", 2}, {"iad", 2}},
//                               .latency_ms = {{"europe", {{"fra", 12}, {"iad", 90}}}},
//                               .shield_servers = 2,
//                               .origin = fetch_from_origin}};
//   auto routed = cdn.get("europe", {.key = "/img/logo.png"});  // routed.pop == "fra"
//   cdn.purge_tag("logo");
//
// Thread safety: get, purge and stats may run concurrently; set_pop_online is atomic per POP.
// Complexity: routing is O(POPs) per request; server choice O(1) on the ring.
#pragma once

#include <atomic>
#include <cstddef>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <scaling/cdn/edge_cache.hpp>
#include <scaling/core/error.hpp>
#include <scaling/sharding/hash_ring.hpp>

namespace scaling {

struct pop_config {
  std::string name;
  std::size_t servers = 1;
};

template <class Response = http_response>
struct cdn_config {
  std::vector<pop_config> pops;
  // Client region -> POP name -> round-trip latency (ms). A POP missing from a region's row
  // is unreachable from it.
  std::map<std::string, std::map<std::string, double>, std::less<>> latency_ms;
  // Servers in the shield tier; 0: the edges fetch from the origin directly.
  std::size_t shield_servers = 0;
  std::size_t capacity_bytes_per_server = std::size_t{64} << 20;
  origin_fetch<Response> origin{};
  cache_clock clock{std::chrono::system_clock{}};
  // Runs stale-while-revalidate refreshes for every server (default: each server's own thread).
  std::function<void(std::function<void()>)> background{};
};

// A response and where it was served.
template <class Response>
struct routed_result {
  edge_result<Response> result;
  std::string pop;
  std::string server;  // "<pop>/<index>"
};

// Per-tier figures: requests seen by the tier and how many it answered without going up.
struct tier_stats {
  edge_stats edge;    // summed over the tier's servers
  edge_stats shield;  // the shield tier (zero without one)
  std::uint64_t origin_fetches = 0;
  std::uint64_t requests = 0;

  // The share of client requests that never reached the origin.
  [[nodiscard]] double origin_offload() const noexcept {
    return requests == 0 ? 0.0 : 1.0 - ratio(origin_fetches, requests);
  }
};

template <class Response = http_response>
class cdn_network {
 public:
  using cache_type = edge_cache<Response>;
  using config = cdn_config<Response>;

  // Throws scaling::invalid_argument for no POPs, a POP with 0 servers, a duplicate POP
  // name, a latency row naming an unknown POP, or a missing origin.
  explicit cdn_network(config cfg) : cfg_(std::move(cfg)) {
    constexpr std::string_view component = "scaling::cdn_network";
    if (cfg_.pops.empty()) detail::throw_invalid_argument(component, "pops", "must not be empty");
    if (!cfg_.origin) detail::throw_invalid_argument(component, "origin", "must be set");
    auto counted_origin = [this](const origin_request& request) {
      origin_fetches_.fetch_add(1, std::memory_order_relaxed);
      return cfg_.origin(request);
    };
    if (cfg_.shield_servers > 0) {
      shield_ = std::make_unique<tier>("shield", cfg_.shield_servers, make_options(counted_origin));
    }
    const origin_fetch<Response> upstream =
        shield_ ? origin_fetch<Response>{[this](const origin_request& request) {
          return shield_->origin_for(request.key)(request);
        }}
                : origin_fetch<Response>{counted_origin};
    for (const auto& pop : cfg_.pops) {
      if (pop.servers == 0) {
        detail::throw_invalid_argument(component, "servers", "must be >= 1 for every POP",
                                       pop.servers);
      }
      if (pops_.contains(pop.name)) {
        detail::throw_invalid_argument(component, "pops", "must have unique names", pop.name);
      }
      pops_.emplace(pop.name,
                    std::make_unique<tier>(pop.name, pop.servers, make_options(upstream)));
    }
    for (const auto& [region, row] : cfg_.latency_ms) {
      for (const auto& [pop, ms] : row) {
        if (!pops_.contains(pop)) {
          detail::throw_invalid_argument(component, "latency_ms", "names an unknown POP", pop);
        }
        (void)ms;
      }
    }
  }

  // Routes the request to the nearest online POP reachable from `region`, then to the server
  // owning the key there. With no reachable POP the answer is a synthesised 502 (error).
  [[nodiscard]] routed_result<Response> get(std::string_view region, const edge_request& request) {
    requests_.fetch_add(1, std::memory_order_relaxed);
    tier* pop = nearest(region);
    if (pop == nullptr) {
      Response unreachable{};
      if constexpr (requires { unreachable.set_status(502); }) unreachable.set_status(502);
      return {{std::move(unreachable), cache_status::error, {}, false}, {}, {}};
    }
    auto& chosen = pop->server_for(request.key);
    return {chosen.cache->get(request), pop->name, chosen.name};
  }

  // The POP a client in `region` is routed to now ("" when none is reachable).
  [[nodiscard]] std::string route(std::string_view region) const {
    const tier* pop = nearest(region);
    return pop == nullptr ? std::string{} : pop->name;
  }

  // Takes a POP out of (or back into) rotation; its clients move to the next nearest POP.
  void set_pop_online(std::string_view name, bool online) {
    pop_named(name).online.store(online, std::memory_order_release);
  }

  std::size_t purge(std::string_view key) {
    return for_each_cache([&](cache_type& c) { return c.purge(key); });
  }
  std::size_t purge_prefix(std::string_view prefix) {
    return for_each_cache([&](cache_type& c) { return c.purge_prefix(prefix); });
  }
  std::size_t purge_tag(std::string_view tag) {
    return for_each_cache([&](cache_type& c) { return c.purge_tag(tag); });
  }
  std::size_t soft_purge(std::string_view key) {
    return for_each_cache([&](cache_type& c) { return c.soft_purge(key); });
  }
  std::size_t soft_purge_prefix(std::string_view prefix) {
    return for_each_cache([&](cache_type& c) { return c.soft_purge_prefix(prefix); });
  }
  std::size_t soft_purge_tag(std::string_view tag) {
    return for_each_cache([&](cache_type& c) { return c.soft_purge_tag(tag); });
  }
  std::size_t purge_all() {
    return for_each_cache([](cache_type& c) { return c.purge_all(); });
  }

  [[nodiscard]] tier_stats stats() const {
    tier_stats out;
    for (const auto& [name, pop] : pops_)
      add(out.edge, pop->stats());
    if (shield_) out.shield = shield_->stats();
    out.origin_fetches = origin_fetches_.load(std::memory_order_relaxed);
    out.requests = requests_.load(std::memory_order_relaxed);
    return out;
  }
  // One POP's servers, summed.
  [[nodiscard]] edge_stats pop_stats(std::string_view name) const {
    return pop_named(name).stats();
  }

 private:
  struct server {
    std::string name;
    std::unique_ptr<cache_type> cache;
    origin_fetch<Response> as_parent;  // this server as another tier's origin
  };

  struct tier {
    tier(std::string tier_name, std::size_t count, const typename cache_type::options& options)
        : name(std::move(tier_name)) {
      for (std::size_t i = 0; i < count; ++i) {
        server s{name + "/" + std::to_string(i), std::make_unique<cache_type>(options), {}};
        s.as_parent = as_origin(*s.cache);
        ring.add(s.name);
        index.emplace(s.name, servers.size());
        servers.push_back(std::move(s));
      }
    }
    server& server_for(std::string_view key) { return servers[index.at(ring.node_for(key))]; }
    const origin_fetch<Response>& origin_for(std::string_view key) {
      return server_for(key).as_parent;
    }
    [[nodiscard]] edge_stats stats() const {
      edge_stats sum;
      for (const auto& s : servers)
        add(sum, s.cache->stats());
      return sum;
    }

    std::string name;
    std::vector<server> servers;
    hash_ring<std::string> ring;
    std::map<std::string, std::size_t, std::less<>> index;
    std::atomic<bool> online{true};
  };

  typename cache_type::options make_options(origin_fetch<Response> origin) const {
    return {.capacity_bytes = cfg_.capacity_bytes_per_server,
            .origin = std::move(origin),
            .clock = cfg_.clock,
            .background = cfg_.background};
  }

  static void add(edge_stats& into, const edge_stats& s) {
    into.requests += s.requests;
    into.hits += s.hits;
    into.misses += s.misses;
    into.stale_while_revalidate += s.stale_while_revalidate;
    into.stale_if_error += s.stale_if_error;
    into.revalidated += s.revalidated;
    into.passes += s.passes;
    into.errors += s.errors;
    into.origin_fetches += s.origin_fetches;
    into.coalesced += s.coalesced;
    into.background_refreshes += s.background_refreshes;
    into.purged += s.purged;
  }

  tier* nearest(std::string_view region) const {
    const auto row = cfg_.latency_ms.find(region);
    if (row == cfg_.latency_ms.end()) return nullptr;
    tier* best = nullptr;
    double best_ms = std::numeric_limits<double>::infinity();
    for (const auto& [name, ms] : row->second) {
      tier& candidate = *pops_.find(name)->second;
      if (!candidate.online.load(std::memory_order_acquire)) continue;
      if (ms < best_ms) {
        best_ms = ms;
        best = &candidate;
      }
    }
    return best;
  }

  tier& pop_named(std::string_view name) const {
    const auto it = pops_.find(name);
    if (it == pops_.end()) {
      detail::throw_invalid_argument("scaling::cdn_network", "pop", "is not a POP of this network",
                                     name);
    }
    return *it->second;
  }

  template <class F>
  std::size_t for_each_cache(F&& f) {
    std::size_t total = 0;
    if (shield_) {
      for (auto& s : shield_->servers)
        total += f(*s.cache);
    }
    for (auto& [name, pop] : pops_) {
      for (auto& s : pop->servers)
        total += f(*s.cache);
    }
    return total;
  }

  config cfg_;
  std::atomic<std::uint64_t> origin_fetches_{0};
  std::atomic<std::uint64_t> requests_{0};
  std::unique_ptr<tier> shield_;
  std::map<std::string, std::unique_ptr<tier>, std::less<>> pops_;
};

}  // namespace scaling
