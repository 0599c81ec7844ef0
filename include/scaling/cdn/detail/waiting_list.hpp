// scaling/cdn/detail/waiting_list.hpp: one origin fetch per key, however many requests wait.
//
// What it is: the edge cache's waiting list (Varnish's name; nginx's proxy_cache_lock). The
// first request for a key that must go to the origin leads a flight; requests for the key
// arriving while it is in the air join it as waiters and are told its answer when it lands,
// with whether they may share it. A waiter that may not (the response was uncacheable, or it
// varies on an encoding the waiter did not ask for) is told so at once and fetches on its own
// behalf: the waiter itself decides where (its own thread, or a thread started for it), so the
// leader never runs the waiters' fetches and answers first.
//
// When to pick it: inside edge_cache; any request coalescing over keys with the same shape.
//
//   auto flight = list.lead_or_join(key, "gzip", [&](bool same_encoding) { return waiter; });
//   if (flight) { /* fetch, then */ for (auto& w : list.finish(key, flight)) w(answer, true); }
//
// Thread safety: every member may be called from any thread (one mutex). Waiters are called
// by whoever calls finish(), with no lock held.
// Complexity: one hash lookup per call; finish() hands back the waiters, O(1).
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace scaling::detail {

template <class Result>
class waiting_list {
 public:
  // A waiting request: told the answer, and whether it may share it (false: fetch your own).
  using waiter = std::function<void(const Result&, bool shareable)>;
  // One fetch in progress. `encoding` is the leader's normalised Accept-Encoding: a waiter
  // with another one may not share a response that varies on it.
  struct flight {
    std::string encoding;
    std::vector<waiter> waiters;
  };
  using flight_ptr = std::shared_ptr<flight>;

  // Leads a new flight for `key` (returned), or, when one is in the air, adds
  // `make_waiter(same_encoding)` to it and returns nullptr.
  template <class MakeWaiter>
  [[nodiscard]] flight_ptr lead_or_join(const std::string& key, std::string encoding,
                                        MakeWaiter&& make_waiter) {
    auto f = std::make_shared<flight>();
    f->encoding = std::move(encoding);
    const std::lock_guard lock{mutex_};
    auto& slot = flights_[key];
    if (slot) {
      slot->waiters.push_back(make_waiter(slot->encoding == f->encoding));
      return nullptr;
    }
    slot = f;
    return f;
  }

  // Leads a new flight for `key` only when none is in the air (a background refresh).
  [[nodiscard]] flight_ptr try_lead(const std::string& key) {
    const std::lock_guard lock{mutex_};
    auto& slot = flights_[key];
    if (slot) return nullptr;
    slot = std::make_shared<flight>();
    return slot;
  }

  // Ends `f`: later requests for the key lead their own flight. Returns its waiters, to be
  // told the answer by the caller, outside the lock.
  [[nodiscard]] std::vector<waiter> finish(const std::string& key, const flight_ptr& f) {
    const std::lock_guard lock{mutex_};
    std::vector<waiter> waiters = std::move(f->waiters);
    const auto it = flights_.find(key);
    if (it != flights_.end() && it->second == f) flights_.erase(it);
    return waiters;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, flight_ptr> flights_;
};

}  // namespace scaling::detail
