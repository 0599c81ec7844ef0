// scaling/cdn/origin.hpp: the origin an edge cache fetches from, blocking or asynchronous.
//
// What it is: `origin_request` (what the edge asks: the key, the normalised Accept-Encoding,
// and validators when it holds a copy), the two origin shapes (`origin_fetch`, a blocking
// function; `async_origin_fetch`, which answers through an `origin_callback`), and
// `detail::origin_adapter`, which calls either one and hands its answer on exactly once: a
// throw is an unreachable origin, a second callback is ignored, and after close() the origin
// is never called again (close() waits for the calls still running).
//
// When to pick it: to write an origin for `edge_cache` (an in-process function, an HTTP
// client such as scaling::asio::http_origin, or a parent tier, see tiers.hpp).
//
//   scaling::origin_fetch<scaling::http_response> origin =
//       [](const scaling::origin_request& r) -> std::optional<scaling::http_response> {
//         return fetch_from_backend(r.key, r.if_none_match);  // nullopt: unreachable
//       };
//
// Thread safety: the origin is called from any thread, concurrently for different keys, with
// no lock of the cache held. origin_adapter's members may be called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

namespace scaling {

// What the edge asks its origin for: the key, and validators when it holds a copy.
struct origin_request {
  std::string key;
  std::string accept_encoding;
  std::string if_none_match;      // the stored ETag, when revalidating
  std::string if_modified_since;  // the stored Last-Modified, when revalidating
};

// The origin: returns the response, or nullopt when it is unreachable (connection refused,
// timeout). An exception counts as unreachable.
template <class Response>
using origin_fetch = std::function<std::optional<Response>(const origin_request&)>;

// An asynchronous origin's answer: called once, from any thread, with the response or nullopt
// (unreachable). Calls after the first are ignored.
template <class Response>
using origin_callback = std::function<void(std::optional<Response>)>;

// An asynchronous origin: starts the fetch and returns without waiting; answers through the
// callback (scaling::asio::http_origin is one; scaling::asio::with_timeout bounds one). A
// throw from the call itself counts as unreachable. A callback that is never called leaves
// the key's waiting requests waiting: bound slow origins with with_timeout.
template <class Response>
using async_origin_fetch = std::function<void(const origin_request&, origin_callback<Response>)>;

namespace detail {

// One origin, blocking or asynchronous, behind one call shape, with a close that waits for
// the calls still running.
template <class Response>
class origin_adapter {
 public:
  // Precondition: exactly one of the two is set (edge_options are validated before).
  origin_adapter(origin_fetch<Response> blocking, async_origin_fetch<Response> async)
      : blocking_(std::move(blocking)), async_(std::move(async)) {}

  // True for a blocking origin: a call runs the fetch on the calling thread.
  [[nodiscard]] bool blocking() const noexcept { return static_cast<bool>(blocking_); }

  // Calls the origin and hands `then` its answer exactly once: a throw is an unreachable
  // origin (nullopt), a second asynchronous answer is ignored. After close() the origin is
  // not called: `then(nullopt)` runs at once and this returns false.
  bool call(const origin_request& request, origin_callback<Response> then) {
    if (!begin()) {
      then(std::nullopt);  // with no lock held, as every answer is
      return false;
    }
    if (blocking_) {
      std::optional<Response> response;
      {
        const running_guard guard{this};
        try {
          response = blocking_(request);
        } catch (...) {
          response.reset();
        }
      }
      then(std::move(response));
      return true;
    }
    auto answered = std::make_shared<std::atomic<bool>>(false);
    origin_callback<Response> once = [answered,
                                      then = std::move(then)](std::optional<Response> response) {
      if (!answered->exchange(true, std::memory_order_acq_rel)) then(std::move(response));
    };
    bool threw = false;
    {
      const running_guard guard{this};
      try {
        async_(request, once);
      } catch (...) {
        threw = true;
      }
    }
    if (threw) once(std::nullopt);
    return true;
  }

  // After close() the origin is never called again, and no call started before it is still
  // running when it returns. Idempotent.
  void close() {
    std::unique_lock lock{mutex_};
    closed_ = true;
    idle_.wait(lock, [this] { return running_ == 0; });
  }

  [[nodiscard]] bool closed() const {
    const std::lock_guard lock{mutex_};
    return closed_;
  }

 private:
  // Counts a call as running unless closed.
  bool begin() {
    const std::lock_guard lock{mutex_};
    if (closed_) return false;
    ++running_;
    return true;
  }

  struct running_guard {
    origin_adapter* self;
    ~running_guard() {
      const std::lock_guard lock{self->mutex_};
      if (--self->running_ == 0) self->idle_.notify_all();
    }
  };

  origin_fetch<Response> blocking_;
  async_origin_fetch<Response> async_;
  mutable std::mutex mutex_;
  std::condition_variable idle_;
  std::size_t running_ = 0;
  bool closed_ = false;
};

}  // namespace detail

}  // namespace scaling
