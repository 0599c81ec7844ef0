// scaling/caching/single_flight.hpp: collapse concurrent calls for one key into one call.
//
// What it is: `scaling::single_flight<Key, Value>::run(key, fn)`: the first caller for a key
// runs fn(); callers that arrive while it runs wait and receive the same result, or the same
// exception. Once the call completes the key is forgotten, so a later run() calls fn() again
// (results are not cached here: put them in a cache).
// When to pick it: in front of an expensive load on a cache miss, so a hot key's expiry sends
// one query to the database instead of one per waiting request (the "stampede"). Used by
// `loading_cache::get_or_load`.
//
//   scaling::single_flight<std::string, profile> loads;
//   profile p = loads.run("u1", [] { return db.read_profile("u1"); });
//
// Thread safety: run() may be called from any thread; fn runs on the first caller's thread,
// without any lock held. Complexity: O(1) expected per call, plus the waiting.
#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include <scaling/core/stats.hpp>

namespace scaling {

template <class Key, class Value, class Hash = std::hash<Key>>
class single_flight {
 public:
  // Runs fn() once for all concurrent callers with an equal key and returns its result to each
  // (a copy). Throws what fn() threw, to every caller of that flight.
  // Precondition: fn does not call run() with the same key (it would wait for itself).
  template <class F>
  requires std::is_invocable_r_v<Value, F&> Value run(const Key& key, F&& fn) {
    std::shared_ptr<flight> f;
    bool leader = false;
    {
      std::scoped_lock lock(mutex_);
      auto [it, inserted] = flights_.try_emplace(key);
      if (inserted) it->second = std::make_shared<flight>();
      f = it->second;
      leader = inserted;
    }
    if (!leader) {
      shared_.add();
      std::unique_lock lock(f->mutex);
      f->done_cv.wait(lock, [&] { return f->done; });
      if (f->error) std::rethrow_exception(f->error);
      return *f->value;
    }
    calls_.add();
    try {
      Value result = std::invoke(fn);
      finish(key, f, [&](flight& fl) { fl.value.emplace(result); });
      return result;
    } catch (...) {
      finish(key, f, [&](flight& fl) { fl.error = std::current_exception(); });
      throw;
    }
  }

  // fn() invocations so far, and callers that shared another caller's invocation.
  [[nodiscard]] std::uint64_t calls() const noexcept { return calls_.load(); }
  [[nodiscard]] std::uint64_t shared() const noexcept { return shared_.load(); }
  // Keys with a call in progress.
  [[nodiscard]] std::size_t in_flight() const {
    std::scoped_lock lock(mutex_);
    return flights_.size();
  }

 private:
  struct flight {
    std::mutex mutex;
    std::condition_variable done_cv;
    bool done = false;
    std::optional<Value> value;
    std::exception_ptr error;
  };

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
};

}  // namespace scaling
