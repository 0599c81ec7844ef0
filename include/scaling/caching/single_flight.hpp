// scaling/caching/single_flight.hpp: collapse concurrent calls for one key into one call.
//
// What it is: `scaling::single_flight<Key, Value>::run(key, fn)`: the first caller for a key
// runs fn(); callers that arrive while it runs wait and receive the same result, or the same
// exception. Once the call completes the key is forgotten, so a later run() calls fn() again
// (results are not cached here: put them in a cache). `run_for` / `run_until` bound the wait
// (and take a std::stop_token): a waiter whose deadline passes, or whose stop is requested,
// stops waiting and gets a `wait_result` saying so, while the call itself runs on for the
// others.
// When to pick it: in front of an expensive load on a cache miss, so a hot key's expiry sends
// one query to the database instead of one per waiting request (the "stampede"). Used by
// `loading_cache::get_or_load`.
//
//   scaling::single_flight<std::string, profile> loads;
//   profile p = loads.run("u1", [] { return db.read_profile("u1"); });
//   scaling::wait_result<profile> q = loads.run_for("u1", [] { return db.read_profile("u1"); },
//                                                   std::chrono::milliseconds{50});
//
// Thread safety: run() may be called from any thread; fn runs on the first caller's thread,
// without any lock held. Complexity: O(1) expected per call, plus the waiting.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include <scaling/core/deadline.hpp>
#include <scaling/core/stats.hpp>

namespace scaling {

// A snapshot of a single_flight's counters.
struct single_flight_stats {
  std::uint64_t calls = 0;      // fn() invocations
  std::uint64_t shared = 0;     // callers that waited for another caller's invocation
  std::uint64_t abandoned = 0;  // of those, waits that ended first (deadline or stop request)
  std::size_t in_flight = 0;    // keys with a call in progress (a gauge)
};

template <class Key, class Value, class Hash = std::hash<Key>>
class single_flight {
 public:
  // Runs fn() once for all concurrent callers with an equal key and returns its result to each
  // (a copy). Throws what fn() threw, to every caller of that flight.
  // Precondition: fn does not call run() with the same key (it would wait for itself).
  template <class F>
  requires std::is_invocable_r_v<Value, F&> Value run(const Key& key, F&& fn) {
    // Named members, not a structured binding: Clang 14 cannot capture one in a lambda.
    const joined j = join(key);
    const std::shared_ptr<flight>& f = j.flight_ptr;
    if (!j.leader) {
      std::unique_lock lock(f->mutex);
      f->done_cv.wait(lock, [&] { return f->done; });
      return result_of(*f);
    }
    return lead(key, f, fn);
  }

  // As run, waiting for another caller's call until `deadline` or until `stop` is requested,
  // whichever comes first. Returns the result (status ready), or a result with status
  // timed_out or stopped; the call itself goes on, and its result still reaches the callers
  // that wait for it. The caller that starts the call runs fn() itself and returns when it
  // finishes: the deadline bounds waiting, not fn (a stop requested before the call starts
  // is answered `stopped` without calling fn). Throws what fn() threw, to every caller that
  // was still waiting.
  // Precondition: as run.
  template <class F>
  requires std::is_invocable_r_v<Value, F&> wait_result<Value> run_until(
      const Key& key, F&& fn, std::chrono::steady_clock::time_point deadline,
      std::stop_token stop = {}) {
    if (stop.stop_requested()) return wait_result<Value>(wait_status::stopped);
    const joined j = join(key);
    const std::shared_ptr<flight>& f = j.flight_ptr;
    if (j.leader) return wait_result<Value>(std::in_place, lead(key, f, fn));
    std::unique_lock lock(f->mutex);
    if (!f->done_cv.wait_until(lock, stop, deadline, [&] { return f->done; })) {
      abandoned_.add();
      return wait_result<Value>(stop.stop_requested() ? wait_status::stopped
                                                      : wait_status::timed_out);
    }
    return wait_result<Value>(std::in_place, result_of(*f));
  }

  // As run_until, with the deadline `timeout` from now (saturating: duration::max() waits for
  // as long as the call takes).
  template <class F, class Rep, class Period>
  requires std::is_invocable_r_v<Value, F&> wait_result<Value> run_for(
      const Key& key, F&& fn, std::chrono::duration<Rep, Period> timeout,
      std::stop_token stop = {}) {
    return run_until(key, std::forward<F>(fn), deadline_after(std::chrono::steady_clock{}, timeout),
                     std::move(stop));
  }

  // A snapshot of the counters.
  [[nodiscard]] single_flight_stats stats() const {
    single_flight_stats s{calls_.load(), shared_.load(), abandoned_.load(), 0};
    std::scoped_lock lock(mutex_);
    s.in_flight = flights_.size();
    return s;
  }

  // fn() invocations so far, and callers that shared another caller's invocation.
  [[deprecated("use stats().calls")]] [[nodiscard]] std::uint64_t calls() const noexcept {
    return calls_.load();
  }
  [[deprecated("use stats().shared")]] [[nodiscard]] std::uint64_t shared() const noexcept {
    return shared_.load();
  }
  // Keys with a call in progress.
  [[nodiscard]] std::size_t in_flight() const {
    std::scoped_lock lock(mutex_);
    return flights_.size();
  }

 private:
  struct flight {
    std::mutex mutex;
    std::condition_variable_any done_cv;  // _any: waits that a std::stop_token can end
    bool done = false;
    std::optional<Value> value;
    std::exception_ptr error;
  };

  // The key's flight, and whether this caller starts it.
  struct joined {
    std::shared_ptr<flight> flight_ptr;
    bool leader;
  };
  joined join(const Key& key) {
    std::scoped_lock lock(mutex_);
    auto [it, inserted] = flights_.try_emplace(key);
    if (inserted) {
      try {
        it->second = std::make_shared<flight>();
      } catch (...) {
        flights_.erase(it);
        throw;
      }
      calls_.add();
    } else {
      shared_.add();
    }
    return {it->second, inserted};
  }

  // Precondition: f->done, f->mutex held.
  static Value result_of(const flight& f) {
    if (f.error) std::rethrow_exception(f.error);
    return *f.value;
  }

  template <class F>
  Value lead(const Key& key, const std::shared_ptr<flight>& f, F& fn) {
    try {
      Value result = std::invoke(fn);
      finish(key, f, [&](flight& fl) { fl.value.emplace(result); });
      return result;
    } catch (...) {
      finish(key, f, [&](flight& fl) { fl.error = std::current_exception(); });
      throw;
    }
  }

  template <class Set>
  void finish(const Key& key, const std::shared_ptr<flight>& f, Set&& set) {
    {
      // Forget the key first: a caller arriving from now on starts a new flight.
      std::scoped_lock lock(mutex_);
      flights_.erase(key);
    }
    {
      std::scoped_lock lock(f->mutex);
      try {
        set(*f);
      } catch (...) {
        // Copying the result for the waiters failed: they get that error instead.
        f->value.reset();
        f->error = std::current_exception();
      }
      f->done = true;
    }
    f->done_cv.notify_all();
  }

  mutable std::mutex mutex_;
  std::unordered_map<Key, std::shared_ptr<flight>, Hash> flights_;
  relaxed_counter calls_;
  relaxed_counter shared_;
  relaxed_counter abandoned_;
};

}  // namespace scaling
