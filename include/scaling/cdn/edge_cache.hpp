// scaling/cdn/edge_cache.hpp: an HTTP edge cache (one CDN cache server) in front of an origin.
//
// What it is: `scaling::edge_cache<Response>` answers requests for URLs from memory when the
// stored response is fresh (RFC 9111), and otherwise from its origin, which may be a real
// HTTP server, an in-process function, or another edge cache (a shield tier, see tiers.hpp).
// What Varnish, nginx and the CDNs do, it does:
//   - fresh hit; stale-while-revalidate (serve stale, one background refresh per key);
//     stale-if-error (serve stale while the origin fails or returns 5xx); both windows
//     inclusive;
//   - a miss is fetched once however many requests wait for it (the waiting list); the
//     waiters share the response when it is cacheable, and each fetches its own at once when
//     it is not;
//   - conditional revalidation with If-None-Match / If-Modified-Since, a 304 refreshing the
//     stored entry when its validator identifies it;
//   - short negative caching of origin errors (500, 502, 503, 504) that allow storing, so a
//     failing origin is not stampeded; the error keeps the copy it hides, for a 304
//     revalidation afterwards;
//   - hit-for-miss: a URL whose response was uncacheable is remembered, and its requests go
//     to the origin in parallel instead of queueing behind each other (a response that has
//     become cacheable is stored at once);
//   - Vary: Accept-Encoding (normalised to br / gzip / identity, q=0 refusing a coding, and
//     sent to the origin normalised); a Vary on any other request header makes the response
//     uncacheable here;
//   - the request's no-cache, no-store, max-age, min-fresh, max-stale and only-if-cached;
//   - `Age` on every response served from cache, `Date` on every response; memory bounded in
//     bytes (LRU); partial content (206) is never stored;
//   - purge by URL, by surrogate key (tag), by prefix, and everything; soft purge marks
//     entries stale but keeps them usable for stale-while-revalidate and stale-if-error. A
//     purge wins: a response fetched before it is not stored after it.
//
// When to pick it: static and semi-static content behind a slower origin, in process (tests,
// simulations, an application-level HTTP cache) or inside `edge_server`. Not a private
// browser cache: it applies the shared-cache rules (see cache_control.hpp).
//
//   scaling::edge_cache<> edge{{.capacity_bytes = 256 << 20,
//                               .origin = [](const scaling::origin_request& r) {
//                                 return fetch_from_origin(r);
//                               }}};
//   auto result = edge.get({.key = "/img/logo.png"});
//   // result.response (with Age), result.status: hit, miss, stale, revalidated, pass, error
//   auto bounded = edge.get_for({.key = "/slow"}, std::chrono::milliseconds{200});
//   edge.purge_tag("product-42");
//
// The origin is a blocking function (`origin`) or an asynchronous one (`async_origin`, which
// answers through a callback). `get` blocks the caller until it has an answer; `get_for` /
// `get_until` block at most until a deadline; `get_async` never blocks and answers through a
// callback, and `scaling::asio::async_get` (scaling/asio/edge_cache.hpp) makes that an Asio
// operation with completion tokens. All share one waiting list, so synchronous and
// asynchronous requests for a key coalesce.
//
// The parts, one header each: edge_request.hpp (requests, results), origin.hpp (the origin
// and its adapter), edge_options.hpp (options, stats), detail/variant_key.hpp
// (Accept-Encoding variants), detail/waiting_list.hpp, detail/storage_rules.hpp (what is
// stored and for how long), detail/purge_index.hpp (purge indexes and the purge log),
// detail/edge_state.hpp (the engine), tiers.hpp (edge -> shield -> origin). This header
// includes all that users need.
//
// Thread safety: every member may be called from any thread. A hit takes the storage lock
// only; the origin is called with no lock held. An origin answering after the edge_cache is
// destroyed is safe (and ignored).
// Complexity: a hit is one hash lookup and a response copy.
// Exceptions: an origin that throws counts as unreachable (like a connection failure).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string_view>
#include <utility>

#include <scaling/cdn/cache_control.hpp>
#include <scaling/cdn/detail/background_worker.hpp>
#include <scaling/cdn/detail/edge_state.hpp>
#include <scaling/cdn/edge_options.hpp>
#include <scaling/cdn/edge_request.hpp>
#include <scaling/cdn/http_response.hpp>
#include <scaling/cdn/origin.hpp>
#include <scaling/core/deadline.hpp>

namespace scaling {

// Response: the stored response type (an edge_response: copyable, status(), header lookup
// and update, size_bytes()); scaling::http_response by default.
template <edge_response Response = http_response>
class edge_cache {
 public:
  using response_type = Response;
  using options = edge_options<Response>;
  using result = edge_result<Response>;

  // Throws scaling::invalid_argument when capacity_bytes is 0, neither or both of origin
  // and async_origin are set, or a TTL is negative.
  explicit edge_cache(options opts)
      : state_(std::make_shared<detail::edge_state<Response>>(std::move(opts))) {
    if (!state_->has_background() && state_->has_sync_origin()) {
      worker_ = std::make_unique<detail::background_worker>();
      state_->set_background([worker = worker_.get()](std::function<void()> task) {
        worker->submit(std::move(task));
      });
    }
  }

  edge_cache(const edge_cache&) = delete;
  edge_cache& operator=(const edge_cache&) = delete;

  // Closes (see close()), then stops the default background thread. Asynchronous fetches
  // still in flight complete later into state that lives until they do (their answers are
  // dropped).
  ~edge_cache() {
    close();
    worker_.reset();
  }

  // Stops calling the origin: waits for the origin calls running now (a refresh already at
  // the origin finishes and is stored), and cancels what has not started: refreshes still
  // queued never reach the origin, and requests that need the origin from now on are
  // answered as if it were unreachable (a stale copy under stale-if-error, else 502 / 504).
  // The cache keeps answering from what it holds. Idempotent.
  void close() { state_->close(); }
  [[nodiscard]] bool closed() const { return state_->closed(); }

  // Answers one request: from cache when possible, else from the origin (once per key).
  // Blocks while the origin is fetched (or while another request's fetch for the key runs);
  // with an async_origin, do not call it on a thread the origin needs to make progress.
  [[nodiscard]] result get(const edge_request& request) { return state_->get(request); }

  // get, waiting at most until `deadline` or until `stop` is requested. The answer when it
  // came in time (status ready); timed_out or stopped when the caller gave up, while the
  // fetch goes on for the requests still waiting and is stored; closed when the cache is
  // closed and cannot answer from what it holds. With a blocking origin, a fetch this
  // request leads runs on a thread started for it, so the caller can leave at the deadline.
  [[nodiscard]] wait_result<result> get_until(const edge_request& request,
                                              std::chrono::steady_clock::time_point deadline,
                                              std::stop_token stop) {
    return state_->get_until(request, deadline, std::move(stop));
  }
  [[nodiscard]] wait_result<result> get_until(const edge_request& request,
                                              std::chrono::steady_clock::time_point deadline) {
    return state_->get_until(request, deadline, std::stop_token{});
  }
  // get_until(request, now + timeout); a timeout too large to add (hours::max()) is forever.
  template <class Rep, class Period>
  [[nodiscard]] wait_result<result> get_for(const edge_request& request,
                                            std::chrono::duration<Rep, Period> timeout,
                                            std::stop_token stop) {
    return get_until(request, deadline_after(std::chrono::steady_clock{}, timeout),
                     std::move(stop));
  }
  template <class Rep, class Period>
  [[nodiscard]] wait_result<result> get_for(const edge_request& request,
                                            std::chrono::duration<Rep, Period> timeout) {
    return get_until(request, deadline_after(std::chrono::steady_clock{}, timeout));
  }

  // Answers one request without blocking: `done(result)` runs inside this call when the
  // cache can answer, otherwise on the thread that delivers the origin's answer (the origin's
  // own thread for an async_origin, this thread for a synchronous origin; a request that
  // waited for an uncacheable response fetches its own on a thread started for it with a
  // synchronous origin). The request's views need to stay valid only during this call.
  // `done` must not throw. scaling::asio::async_get wraps this as an Asio operation.
  void get_async(const edge_request& request, std::function<void(result)> done) {
    state_->get_async(request, std::move(done));
  }

  // Answers from cache only, never blocking on the origin: a fresh hit, or a stale copy
  // served while a background refresh starts. nullopt means get() would go to the origin,
  // so a server can run that on a thread where blocking is acceptable. A request answered
  // here is counted; one that is not is counted by the get() that follows.
  [[nodiscard]] std::optional<result> try_get(const edge_request& request) {
    return state_->try_get(request);
  }

  // Removes the stored responses for `key` (all its variants). Returns how many. A fetch of
  // the key in flight is not stored when it lands (it predates the purge).
  std::size_t purge(std::string_view key) { return state_->purge(key); }
  // Removes every stored response whose key starts with `prefix`.
  std::size_t purge_prefix(std::string_view prefix) { return state_->purge_prefix(prefix); }
  // Removes every stored response tagged `tag` (Surrogate-Key); cost ~ the tagged entries.
  std::size_t purge_tag(std::string_view tag) { return state_->purge_tag(tag); }
  // Removes everything.
  std::size_t purge_all() { return state_->purge_all(); }

  // Soft purge: marks the entries stale now; they may still be served under their
  // stale-while-revalidate and stale-if-error permissions while a fresh copy is fetched.
  std::size_t soft_purge(std::string_view key) { return state_->soft_purge(key); }
  std::size_t soft_purge_prefix(std::string_view prefix) {
    return state_->soft_purge_prefix(prefix);
  }
  std::size_t soft_purge_tag(std::string_view tag) { return state_->soft_purge_tag(tag); }

  [[nodiscard]] edge_stats stats() const { return state_->stats(); }
  // Stored entries (responses, Vary markers and hit-for-miss markers).
  [[nodiscard]] std::size_t size() const { return state_->size(); }
  // Bytes in use, against capacity_bytes.
  [[nodiscard]] std::uint64_t bytes() const { return state_->bytes(); }
  [[nodiscard]] std::size_t capacity_bytes() const noexcept { return state_->capacity_bytes(); }
  [[nodiscard]] bool contains(std::string_view key) const { return state_->contains(key); }

 private:
  std::shared_ptr<detail::edge_state<Response>> state_;
  std::unique_ptr<detail::background_worker> worker_;
};

}  // namespace scaling

#include <scaling/cdn/tiers.hpp>
