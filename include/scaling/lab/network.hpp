// scaling/lab/network.hpp: one-way delays between places, and partitions, on virtual time.
//
// What it is: `lab::network`, a set of named places (regions, zones, or single hosts) with a
// delay law for each ordered pair. `send(from, to, f)` runs `f` after a delay drawn for that
// pair; while the pair is partitioned the message is dropped and counted (the sender's own
// timeout is what notices, as in a real network). Delays within a place default to zero.
//
// When to pick it: for anything that crosses a region or a rack in the lab: cross-region
// replication lag, a client far from its POP, a partition between a primary and its replicas.
//
//   scaling::lab::network net{sim};
//   auto us = net.add_place("us-east"), eu = net.add_place("eu-west");
//   net.set_delay(us, eu, scaling::lab::distribution::deterministic(40ms));  // both ways
//   net.send(us, eu, [&] { replica.apply(entry); });
//   net.partition(us, eu);                                                   // from now on,
//   dropped
//
// Thread safety: none (it lives in one simulation). Complexity: O(1) per send.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "scaling/core/error.hpp"
#include "scaling/lab/random.hpp"
#include "scaling/lab/simulation.hpp"

namespace scaling::lab {

class network {
 public:
  using place = std::size_t;

  explicit network(simulation& sim) : sim_(&sim) {}

  // Adds a place and returns its id (0, 1, 2, ...).
  place add_place(std::string name) {
    for (const auto& existing : names_)
      if (existing == name)
        detail::throw_invalid_argument("scaling::lab::network::add_place", "name", "must be unique",
                                       name);
    names_.push_back(std::move(name));
    const std::size_t n = names_.size();
    std::vector<link> grown(n * n);
    for (std::size_t a = 0; a + 1 < n; ++a)
      for (std::size_t b = 0; b + 1 < n; ++b)
        grown[a * n + b] = std::move(links_[a * (n - 1) + b]);
    links_ = std::move(grown);
    return n - 1;
  }

  // The delay law from `a` to `b` and from `b` to `a`.
  void set_delay(place a, place b, const distribution& delay) {
    set_one_way_delay(a, b, delay);
    set_one_way_delay(b, a, delay);
  }
  void set_one_way_delay(place from, place to, const distribution& delay) {
    at(from, to).delay = delay;
  }

  // Messages between a and b (both ways) are dropped until heal(a, b).
  void partition(place a, place b) {
    at(a, b).cut = true;
    at(b, a).cut = true;
  }
  void heal(place a, place b) {
    at(a, b).cut = false;
    at(b, a).cut = false;
  }
  [[nodiscard]] bool partitioned(place a, place b) const { return at(a, b).cut; }

  // Delivers `f` at `to` after the pair's delay. Returns false (and drops f) if the pair is
  // partitioned now. A message sent before a partition still arrives (it was on the wire).
  template <class F>
  bool send(place from, place to, F&& f) {
    link& l = at(from, to);
    if (l.cut) {
      ++dropped_;
      return false;
    }
    ++sent_;
    const auto d = l.delay ? l.delay->sample(sim_->rng()) : std::chrono::nanoseconds::zero();
    sim_->after(d, std::forward<F>(f));
    return true;
  }

  [[nodiscard]] std::uint64_t sent() const noexcept { return sent_; }
  [[nodiscard]] std::uint64_t dropped() const noexcept { return dropped_; }
  [[nodiscard]] const std::string& name(place p) const { return names_.at(p); }
  [[nodiscard]] std::size_t size() const noexcept { return names_.size(); }

 private:
  struct link {
    std::optional<distribution> delay;  // none: zero delay
    bool cut = false;
  };
  link& at(place a, place b) {
    check(a, "from");
    check(b, "to");
    return links_[a * names_.size() + b];
  }
  const link& at(place a, place b) const {
    check(a, "from");
    check(b, "to");
    return links_[a * names_.size() + b];
  }
  void check(place p, const char* parameter) const {
    if (p >= names_.size())
      detail::throw_invalid_argument("scaling::lab::network", parameter,
                                     "must be a place added to this network", p);
  }

  simulation* sim_;
  std::vector<std::string> names_;
  std::vector<link> links_;
  std::uint64_t sent_ = 0;
  std::uint64_t dropped_ = 0;
};

}  // namespace scaling::lab
