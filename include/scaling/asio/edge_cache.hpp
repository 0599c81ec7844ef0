// scaling/asio/edge_cache.hpp: scaling::edge_cache requests and origins as Asio operations.
//
// What it is: `scaling::asio::async_get(edge, request, token)` asks an edge cache for a URL
// without blocking a thread: a cache answer completes at once, a miss completes when the
// origin answers (one origin fetch however many requests wait for the key). It is an Asio
// asynchronous operation, so any completion token works: a callback, `use_future`,
// `use_awaitable`, `deferred`. Each request completes exactly once, on its own handler's
// associated executor (the system executor when the handler has none), never inside the
// initiating call: the waiters of one coalesced fetch each resume where they belong.
// `scaling::asio::with_timeout` bounds an asynchronous origin: no answer within the timeout
// is an unreachable origin (stale-if-error, then 502/504), and the late answer is dropped.
//
// When to pick it: an edge or application cache inside an Asio server (see edge_server in
// examples/cdn), or a tier of edges (`scaling::as_async_origin`) where a miss must not hold a
// thread. Code on plain threads can call `edge_cache::get` instead.
//
//   scaling::edge_cache<> edge{{.capacity_bytes = 256 << 20,
//                               .async_origin =
//                               scaling::asio::with_timeout<scaling::http_response>(
//                                   io.get_executor(), origin, std::chrono::seconds{2})}};
//   const scaling::edge_request request{.key = "/img/logo.png"};
//   scaling::edge_result<scaling::http_response> r =
//       co_await scaling::asio::async_get(edge, request, boost::asio::use_awaitable);
//   // (a named request: GCC 12 mishandles class temporaries that live across a co_await)
//
// Completion signature: void(scaling::edge_result<Response>); errors are results (a 502 or
// 504 with cache_status::error), not exceptions. Not cancellable: the origin fetch is shared
// by every request waiting for the key; bound it with with_timeout instead.
// Thread safety: as edge_cache (any thread). The request's views need to stay valid only
// until the operation is initiated (the fields are copied first).
// Complexity: a cache answer costs the lookup plus one post to the handler's executor.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <utility>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include <scaling/cdn/edge_cache.hpp>
#include <scaling/core/error.hpp>

namespace scaling::asio {

// Asks `edge` for `request`. Completion: void(scaling::edge_result<Response>).
template <class Response, class CompletionToken>
auto async_get(scaling::edge_cache<Response>& edge, const scaling::edge_request& request,
               CompletionToken&& token) {
  using result = scaling::edge_result<Response>;
  return boost::asio::async_initiate<CompletionToken, void(result)>(
      [](auto handler, scaling::edge_cache<Response>* cache,
         const scaling::detail::owned_edge_request& owned) {
        using handler_type = decltype(handler);
        auto executor = boost::asio::get_associated_executor(handler);
        using work_type = decltype(boost::asio::make_work_guard(executor));
        // The handler may be move-only; the cache's callback must be copyable: share it.
        struct pending {
          handler_type handler;
          work_type work;  // keeps the handler's execution context running until we complete
        };
        auto op = std::make_shared<pending>(
            pending{std::move(handler), boost::asio::make_work_guard(executor)});
        cache->get_async(owned.view(), [op](result answer) {
          auto ex = op->work.get_executor();
          boost::asio::post(ex, [op, answer = std::move(answer)]() mutable {
            handler_type completion = std::move(op->handler);
            op->work.reset();
            std::move(completion)(std::move(answer));
          });
        });
      },
      token, &edge, scaling::detail::owned_edge_request{request});
}

// An asynchronous origin that answers nullopt (unreachable) when `inner` has not answered
// within `timeout`; a later answer from `inner` is dropped. The timer runs on `executor`,
// whose execution context must outlive the callbacks `inner` holds.
// Throws scaling::invalid_argument when `inner` is empty or `timeout` is not positive.
template <class Response, class Executor>
[[nodiscard]] scaling::async_origin_fetch<Response> with_timeout(
    Executor executor, scaling::async_origin_fetch<Response> inner,
    std::chrono::steady_clock::duration timeout) {
  constexpr std::string_view component = "scaling::asio::with_timeout";
  if (!inner) scaling::detail::throw_invalid_argument(component, "inner", "must be set");
  if (timeout <= std::chrono::steady_clock::duration::zero()) {
    scaling::detail::throw_invalid_argument(
        component, "timeout", "must be > 0 ms",
        std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count());
  }
  return [executor = std::move(executor), inner = std::move(inner), timeout](
             const scaling::origin_request& request, scaling::origin_callback<Response> answer) {
    // Whichever comes first, the origin's answer or the timer, answers; the other is dropped.
    struct race {
      race(const Executor& ex, scaling::origin_callback<Response> a)
          : timer(ex), answer(std::move(a)) {}
      boost::asio::steady_timer timer;
      scaling::origin_callback<Response> answer;
      std::atomic<bool> answered{false};
      bool claim() { return !answered.exchange(true, std::memory_order_acq_rel); }
    };
    auto state = std::make_shared<race>(executor, std::move(answer));
    state->timer.expires_after(timeout);
    state->timer.async_wait([state](boost::system::error_code ec) {
      if (!ec && state->claim()) state->answer(std::nullopt);
    });
    const auto stop_timer = [state] {
      // The timer is only touched on its executor; cancelling frees the io_context early.
      boost::asio::post(state->timer.get_executor(), [state] { state->timer.cancel(); });
    };
    try {
      inner(request, [state, stop_timer](std::optional<Response> response) {
        if (!state->claim()) return;  // the timer answered first
        stop_timer();
        state->answer(std::move(response));
      });
    } catch (...) {
      if (state->claim()) stop_timer();  // the caller treats the throw as unreachable
      throw;
    }
  };
}

}  // namespace scaling::asio
