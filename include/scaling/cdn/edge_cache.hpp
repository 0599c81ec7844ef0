// scaling/cdn/edge_cache.hpp: an HTTP edge cache (one CDN cache server) in front of an origin.
//
// What it is: `scaling::edge_cache<Key, Response>` answers requests for URLs from memory when
// the stored response is fresh (RFC 9111), and otherwise from its origin, which may be a real
// HTTP server, an in-process function, or another edge cache (a shield tier, see
// `as_origin`). What Varnish, nginx and the CDNs do, it does:
//   - fresh hit; stale-while-revalidate (serve stale, one background refresh per key);
//     stale-if-error (serve stale while the origin fails or returns 5xx);
//   - a miss is fetched once however many requests wait for it (the waiting list); the
//     waiters share the response when it is cacheable;
//   - conditional revalidation with If-None-Match / If-Modified-Since, a 304 refreshing the
//     stored entry;
//   - short negative caching of origin errors (500, 502, 503, 504), so a failing origin is
//     not stampeded; the error keeps the copy it hides, for a 304 revalidation afterwards;
//   - hit-for-miss: a URL whose response was uncacheable is remembered, and its requests go
//     to the origin in parallel instead of queueing behind each other (a response that has
//     become cacheable is stored at once);
//   - Vary: Accept-Encoding (normalised to br / gzip / identity, q=0 refusing a coding, and
//     sent to the origin normalised); a Vary on any other request header makes the response
//     uncacheable here;
//   - the request's no-cache, no-store, max-age, min-fresh, max-stale and only-if-cached;
//   - `Age` on every response served from cache; memory bounded in bytes (LRU);
//   - purge by URL, by surrogate key (tag), by prefix, and everything; soft purge marks
//     entries stale but keeps them usable for stale-while-revalidate and stale-if-error.
//
// When to pick it: static and semi-static content behind a slower origin, in process (tests,
// simulations, an application-level HTTP cache) or inside `edge_server`. Not a private
// browser cache: it applies the shared-cache rules (see cache_control.hpp).
//
//   scaling::edge_cache<std::string, scaling::http_response> edge{{
//       .capacity_bytes = 256 << 20,
//       .origin = [](const scaling::origin_request& r) { return fetch_from_origin(r); }}};
//   auto result = edge.get({.key = "/img/logo.png"});
//   // result.response (with Age), result.status: hit, miss, stale, revalidated, pass, error
//   edge.purge_tag("product-42");
//
// The origin is a blocking function (`origin`) or an asynchronous one (`async_origin`, which
// answers through a callback). `get` blocks the caller until it has an answer; `get_async`
// never blocks and answers through a callback, and `scaling::asio::async_get`
// (scaling/asio/edge_cache.hpp) makes that an Asio operation with completion tokens. Both
// share one waiting list, so synchronous and asynchronous requests for a key coalesce.
//
// Thread safety: every member may be called from any thread. Storage is a mutex-locked
// scaling::cache; the waiting list and the purge indexes have their own locks; the origin is
// called with no lock held. The state lives in shared memory that asynchronous fetches keep
// alive, so an origin answering after the edge_cache is destroyed is safe (and ignored).
// Complexity: a hit is one hash lookup and a response copy.
// Exceptions: an origin that throws counts as unreachable (like a connection failure).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <scaling/caching/cache.hpp>
#include <scaling/cdn/cache_control.hpp>
#include <scaling/cdn/detail/background_worker.hpp>
#include <scaling/cdn/detail/purge_index.hpp>
#include <scaling/cdn/http_response.hpp>
#include <scaling/core/error.hpp>
#include <scaling/core/stats.hpp>

namespace scaling {

// How a request was answered.
enum class cache_status : std::uint8_t {
  hit,          // fresh copy from the cache (or a cached origin error)
  miss,         // fetched from the origin (possibly shared with other waiting requests)
  stale,        // a stale copy: while revalidating in the background, or the origin failed
  revalidated,  // the origin confirmed the stored copy (304) and it was served
  pass,         // not cacheable: fetched from the origin for this request alone
  error,        // origin unreachable and no usable copy: a synthesised 502 or 504
};

// The X-Cache value for a status: HIT, MISS or STALE.
[[nodiscard]] constexpr std::string_view x_cache_value(cache_status status) noexcept {
  switch (status) {
    case cache_status::hit:
    case cache_status::revalidated:
      return "HIT";
    case cache_status::stale:
      return "STALE";
    default:
      return "MISS";
  }
}

// The request fields an edge cache keys and decides on.
struct edge_request {
  std::string key;                   // the cache key: usually scheme + host + path + query
  std::string_view accept_encoding;  // for Vary: Accept-Encoding
  std::string_view cache_control;    // request directives (no-cache, no-store)
  std::string_view if_none_match;    // a client's validators, forwarded on pass-through
  bool has_authorization = false;
};

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

template <class Response>
struct edge_options {
  // The bound on stored responses and keys, in bytes (Response::size_bytes() + key sizes).
  std::size_t capacity_bytes = std::size_t{64} << 20;
  // Exactly one of the two: a blocking origin, or an asynchronous one.
  origin_fetch<Response> origin{};
  async_origin_fetch<Response> async_origin{};
  // Wall time (Date, Expires and Age are wall-clock values). Tests pass a manual_clock whose
  // time_since_epoch is read as Unix time.
  cache_clock clock{std::chrono::system_clock{}};
  // How long an origin 5xx is served from cache when no stale copy can be served instead.
  std::chrono::seconds negative_ttl{5};
  // How long a URL whose response was uncacheable skips the waiting list.
  std::chrono::seconds hit_for_miss_ttl{60};
  // How long an entry with validators (ETag / Last-Modified) is kept after it can no longer
  // be served, so that it can be revalidated with a cheap 304 instead of a full fetch.
  std::chrono::seconds keep_for_revalidation{std::chrono::hours{1}};
  freshness_options freshness{};
  // Runs stale-while-revalidate refreshes. Default: with a blocking origin, one background
  // thread of the cache's own; with an async_origin, none (the refresh is started inline and
  // does not block). A task run after the cache is destroyed does nothing; one dropped
  // unrun leaves nothing waiting.
  std::function<void(std::function<void()>)> background{};
};

// The answer to one request.
template <class Response>
struct edge_result {
  Response response;  // with Age when served from cache
  cache_status status = cache_status::miss;
  std::chrono::seconds age{0};
  bool coalesced = false;  // answered by another request's origin fetch
};

// Counters; origin_offload() = 1 - origin fetches / requests.
struct edge_stats {
  std::uint64_t requests = 0;
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t stale_while_revalidate = 0;
  std::uint64_t stale_if_error = 0;
  std::uint64_t stale_accepted = 0;  // stale copies a request accepted with max-stale
  std::uint64_t revalidated = 0;     // 304s that refreshed a stored copy
  std::uint64_t passes = 0;
  std::uint64_t errors = 0;  // synthesised 502/504
  std::uint64_t origin_fetches = 0;
  std::uint64_t coalesced = 0;  // requests answered by another request's fetch
  std::uint64_t background_refreshes = 0;
  std::uint64_t purged = 0;  // entries removed or soft-purged by purge calls

  [[nodiscard]] double hit_ratio() const noexcept {
    return ratio(hits + stale_while_revalidate + stale_if_error + stale_accepted + revalidated,
                 requests);
  }
  [[nodiscard]] double origin_offload() const noexcept {
    return requests == 0 ? 0.0 : 1.0 - ratio(origin_fetches, requests);
  }
};

// Keys are strings (URLs): they are stored, ordered for prefix purge, and extended with a
// variant suffix for Vary.
template <class Key>
concept edge_key = std::convertible_to<const Key&, std::string_view>;

namespace detail {

// The request fields an origin fetch still needs after the call that started it returned.
struct owned_edge_request {
  explicit owned_edge_request(const edge_request& r)
      : key(r.key),
        accept_encoding(r.accept_encoding),
        cache_control(r.cache_control),
        if_none_match(r.if_none_match),
        has_authorization(r.has_authorization) {}

  [[nodiscard]] edge_request view() const {
    return {.key = key,
            .accept_encoding = accept_encoding,
            .cache_control = cache_control,
            .if_none_match = if_none_match,
            .has_authorization = has_authorization};
  }

  std::string key, accept_encoding, cache_control, if_none_match;
  bool has_authorization;
};

// Everything an edge cache holds. Shared, so that an asynchronous origin fetch that completes
// after the edge_cache is gone stores into live memory instead of freed memory.
template <class Response>
class edge_state : public std::enable_shared_from_this<edge_state<Response>> {
 public:
  using options = edge_options<Response>;
  using result = edge_result<Response>;
  using done_fn = std::function<void(result)>;

  explicit edge_state(options opts)
      : opts_(validate(std::move(opts))), storage_(opts_.capacity_bytes, storage_options()) {}

  // Set once by the owning edge_cache: where stale-while-revalidate refreshes run.
  void set_background(std::function<void(std::function<void()>)> run) {
    background_ = std::move(run);
  }

  // After close() the origin is never called again (fetches answer as if it were
  // unreachable), and no origin call started before it is still running.
  void close() {
    std::unique_lock lock{flights_mutex_};
    closed_ = true;
    origin_idle_.wait(lock, [this] { return origin_calls_running_ == 0; });
  }

  result get(const edge_request& request) {
    count(stat::requests);
    lookup_outcome found = lookup(request);
    if (found.answer) return std::move(*found.answer);
    // The origin path: the same callback machinery as get_async, waited for here.
    struct slot {
      std::mutex mutex;
      std::condition_variable ready;
      std::optional<result> value;
    } answer;
    go_to_origin(std::make_shared<const owned_edge_request>(request), std::move(found),
                 [&answer](result r) {
                   const std::lock_guard lock{answer.mutex};
                   answer.value = std::move(r);
                   answer.ready.notify_one();  // under the lock: `answer` dies once seen
                 });
    std::unique_lock lock{answer.mutex};
    answer.ready.wait(lock, [&answer] { return answer.value.has_value(); });
    return std::move(*answer.value);
  }

  void get_async(const edge_request& request, done_fn done) {
    count(stat::requests);
    lookup_outcome found = lookup(request);
    if (found.answer) {
      done(std::move(*found.answer));
      return;
    }
    go_to_origin(std::make_shared<const owned_edge_request>(request), std::move(found),
                 std::move(done));
  }

  std::optional<result> try_get(const edge_request& request) {
    lookup_outcome found = lookup(request);
    if (found.answer) count(stat::requests);
    return std::move(found.answer);
  }

  std::size_t purge(std::string_view key) { return erase_all(stored_keys_of(key)); }
  std::size_t purge_prefix(std::string_view prefix) {
    return erase_all(index_.keys_with_prefix(prefix));
  }
  std::size_t purge_tag(std::string_view tag) { return erase_all(index_.keys_with_tag(tag)); }
  std::size_t purge_all() { return erase_all(index_.all_keys()); }
  std::size_t soft_purge(std::string_view key) { return mark_stale(stored_keys_of(key)); }
  std::size_t soft_purge_prefix(std::string_view prefix) {
    return mark_stale(index_.keys_with_prefix(prefix));
  }
  std::size_t soft_purge_tag(std::string_view tag) { return mark_stale(index_.keys_with_tag(tag)); }

  [[nodiscard]] edge_stats stats() const {
    return {.requests = counter(stat::requests),
            .hits = counter(stat::hits),
            .misses = counter(stat::misses),
            .stale_while_revalidate = counter(stat::stale_while_revalidate),
            .stale_if_error = counter(stat::stale_if_error),
            .stale_accepted = counter(stat::stale_accepted),
            .revalidated = counter(stat::revalidated),
            .passes = counter(stat::passes),
            .errors = counter(stat::errors),
            .origin_fetches = counter(stat::origin_fetches),
            .coalesced = counter(stat::coalesced),
            .background_refreshes = counter(stat::background_refreshes),
            .purged = counter(stat::purged)};
  }
  [[nodiscard]] std::size_t size() const { return storage_.size(); }
  [[nodiscard]] std::uint64_t bytes() const { return storage_.weight(); }
  [[nodiscard]] std::size_t capacity_bytes() const noexcept { return opts_.capacity_bytes; }
  [[nodiscard]] bool contains(std::string_view key) const {
    return storage_.contains(std::string{key});
  }
  [[nodiscard]] bool has_sync_origin() const noexcept { return static_cast<bool>(opts_.origin); }
  [[nodiscard]] bool has_background() const noexcept { return static_cast<bool>(opts_.background); }

 private:
  enum class entry_kind : std::uint8_t { object, negative, vary_marker, hit_for_miss };

  struct entry {
    entry_kind kind = entry_kind::object;
    Response response{};
    freshness fresh{};
    std::vector<std::string> tags;
    std::uint64_t generation = 0;
    std::optional<std::chrono::sys_seconds> soft_purged_at;
    std::chrono::sys_seconds pass_until{};  // hit_for_miss
    std::chrono::sys_seconds negative_until{};
    std::shared_ptr<const entry> previous;  // negative: the object copy it replaced, if any

    [[nodiscard]] bool is_fresh(std::chrono::sys_seconds now) const {
      if (kind == entry_kind::negative) return now < negative_until;
      return !soft_purged_at && fresh.is_fresh(now);
    }
    // Staleness counts from the purge for a soft-purged entry that was still fresh.
    [[nodiscard]] freshness effective() const {
      freshness f = fresh;
      if (soft_purged_at && f.is_fresh(*soft_purged_at)) {
        f.lifetime = f.current_age(*soft_purged_at);
      }
      return f;
    }
    [[nodiscard]] bool usable_while_revalidating(std::chrono::sys_seconds now) const {
      const freshness f = effective();
      return !f.never_stale && f.stale_while_revalidate > std::chrono::seconds{0} &&
             f.staleness(now) <= f.stale_while_revalidate;
    }
    [[nodiscard]] bool usable_on_error(std::chrono::sys_seconds now) const {
      return kind == entry_kind::object && effective().usable_on_error(now);
    }
  };
  using entry_ptr = std::shared_ptr<const entry>;
  using request_ptr = std::shared_ptr<const owned_edge_request>;
  // A finished fetch: the answer, and whether requests waiting for the key may share it.
  using fetched_fn = std::function<void(result, bool shareable)>;

  // One origin fetch in progress for a key (the waiting list). Waiters are told the answer
  // and whether they may share it (false: an uncacheable response; each fetches its own).
  // `encoding` is the leader's normalised Accept-Encoding: a waiter with another one may not
  // share a response that varies on it.
  struct flight {
    std::string encoding;
    std::vector<std::function<void(const result&, bool shareable)>> waiters;
  };

  using storage_type = cache<std::string, entry_ptr, lru, mutex_locked>;

  static options validate(options opts) {
    constexpr std::string_view component = "scaling::edge_cache";
    if (opts.capacity_bytes == 0) {
      detail::throw_invalid_argument(component, "capacity_bytes", "must be > 0",
                                     opts.capacity_bytes);
    }
    if (!opts.origin && !opts.async_origin) {
      detail::throw_invalid_argument(component, "origin",
                                     "one of origin and async_origin must be set");
    }
    if (opts.origin && opts.async_origin) {
      detail::throw_invalid_argument(component, "async_origin",
                                     "must be empty when origin is set (one origin only)");
    }
    for (const auto& [name, value] :
         {std::pair{"negative_ttl", opts.negative_ttl},
          std::pair{"hit_for_miss_ttl", opts.hit_for_miss_ttl},
          std::pair{"keep_for_revalidation", opts.keep_for_revalidation}}) {
      if (value < std::chrono::seconds{0}) {
        detail::throw_invalid_argument(component, name, "must be >= 0 seconds", value.count());
      }
    }
    return opts;
  }

  typename storage_type::options storage_options() {
    typename storage_type::options o;
    o.clock = opts_.clock;
    o.weigher = [](const std::string& key, const entry_ptr& e) -> std::size_t {
      // The entry, its response (and the copy a cached error keeps), and what the purge
      // indexes hold for it: the key in the ordered map, and per tag the entry's copy, the
      // index record's copy and a node with the key in the tag's set.
      const std::size_t previous = e->previous ? e->previous->response.size_bytes() : 0;
      std::size_t index = key.size() + 96;
      for (const auto& tag : e->tags)
        index += 2 * tag.size() + key.size() + 96;
      return key.size() + sizeof(entry) + e->response.size_bytes() + previous + 64 + index;
    };
    o.listener = [this](const std::string& key, const entry_ptr& e, removal_cause cause) {
      if (cause != removal_cause::replaced) index_.remove(key, e->generation);
    };
    return o;
  }

  [[nodiscard]] std::chrono::sys_seconds wall_now() const {
    return std::chrono::sys_seconds{std::chrono::floor<std::chrono::seconds>(opts_.clock.now())};
  }

  // One relaxed atomic per edge_stats field, so the hit path takes no lock for counting.
  enum class stat : std::size_t {
    requests,
    hits,
    misses,
    stale_while_revalidate,
    stale_if_error,
    stale_accepted,
    revalidated,
    passes,
    errors,
    origin_fetches,
    coalesced,
    background_refreshes,
    purged,
    count_
  };
  void count(stat which, std::uint64_t n = 1) { counters_[static_cast<std::size_t>(which)].add(n); }
  [[nodiscard]] std::uint64_t counter(stat which) const {
    return counters_[static_cast<std::size_t>(which)].load();
  }

  // The storage keys of one URL: the key itself and its Vary variants.
  std::vector<std::string> stored_keys_of(std::string_view key) const {
    std::vector<std::string> keys = index_.keys_with_prefix(variant_prefix(key));
    keys.emplace_back(key);
    return keys;
  }

  static std::string variant_prefix(std::string_view key) {
    std::string prefix{key};
    prefix.push_back('\0');
    return prefix;
  }
  // Accept-Encoding normalised the way CDNs do, so variants stay few: br when the client
  // accepts it, else gzip, else identity. A coding listed with q=0 is refused (RFC 9110
  // section 12.5.3); `*` with q > 0 accepts gzip. The origin is asked with this value, so a
  // stored variant always matches its key.
  static std::string_view normalized_encoding(std::string_view accept_encoding) {
    bool br = false;
    bool gzip = false;
    bool any = false;
    while (!accept_encoding.empty()) {
      const std::size_t comma = accept_encoding.find(',');
      std::string_view member = accept_encoding.substr(0, comma);
      accept_encoding =
          comma == std::string_view::npos ? std::string_view{} : accept_encoding.substr(comma + 1);
      const std::size_t semicolon = member.find(';');
      const std::string_view coding = detail::trim_ows(member.substr(0, semicolon));
      bool refused = false;
      if (semicolon != std::string_view::npos) {
        // qvalue = ( "0" [ "." 0*3("0") ] ) / ( "1" [ "." 0*3("0") ] ): zero only if all 0s.
        std::string_view params = member.substr(semicolon + 1);
        const std::size_t q = params.find_first_not_of(" \t");
        if (q != std::string_view::npos && (params[q] == 'q' || params[q] == 'Q')) {
          params = detail::trim_ows(params.substr(q + 1));
          if (!params.empty() && params.front() == '=') {
            const std::string_view value = detail::trim_ows(params.substr(1));
            refused = !value.empty() && value.find_first_not_of("0.") == std::string_view::npos;
          }
        }
      }
      if (refused) continue;
      if (detail::iequals(coding, "br")) br = true;
      if (detail::iequals(coding, "gzip") || detail::iequals(coding, "x-gzip")) gzip = true;
      if (coding == "*") any = true;
    }
    if (br) return "br";
    if (gzip || any) return "gzip";
    return "identity";
  }
  static std::string variant_key(std::string_view key, std::string_view accept_encoding) {
    std::string out = variant_prefix(key);
    out.append(normalized_encoding(accept_encoding));
    return out;
  }

  result served(const entry& e, std::chrono::sys_seconds now, cache_status status) const {
    result out{e.response, status, e.fresh.current_age(now), false};
    out.response.set_header("Age", std::to_string(out.age.count()));
    return out;
  }

  struct lookup_outcome {
    std::optional<result> answer;  // served from cache
    bool pass = false;             // a hit-for-miss URL: straight to the origin
    std::string object_key;        // where the response lives (a Vary variant, or the key)
    entry_ptr stored;              // the stored copy to revalidate or fall back on, if any
  };

  // Everything a request can be answered with without the origin; counts the answers.
  // The request's own directives apply (RFC 9111 section 5.2.1): no-cache, no-store and an
  // unmet max-age or min-fresh send it to the origin (conditionally when a copy is stored);
  // max-stale accepts a stale copy the response allows to be served stale; only-if-cached
  // answers 504 instead of going to the origin.
  lookup_outcome lookup(const edge_request& request) {
    lookup_outcome out;
    const auto now = wall_now();
    const cache_directives directives = parse_cache_control(request.cache_control);
    const auto only_if_cached = [&]() -> lookup_outcome& {
      if (directives.only_if_cached) {
        count(stat::errors);
        out.answer = result{synthesized(504), cache_status::error, {}, false};
      }
      return out;
    };

    auto primary = storage_.get(request.key);
    if (primary && (*primary)->kind == entry_kind::hit_for_miss && now < (*primary)->pass_until) {
      out.pass = true;
      return only_if_cached();
    }
    out.object_key = request.key;
    std::optional<entry_ptr> object = primary;
    if (primary && (*primary)->kind == entry_kind::vary_marker) {
      out.object_key = variant_key(request.key, request.accept_encoding);
      object = storage_.get(out.object_key);
    }
    if (!object ||
        ((*object)->kind != entry_kind::object && (*object)->kind != entry_kind::negative)) {
      return only_if_cached();
    }
    const entry& e = **object;
    const auto age = e.fresh.current_age(now);
    const bool acceptable =
        !directives.no_cache && !directives.no_store &&
        (!directives.max_age || age <= *directives.max_age) &&
        (!directives.min_fresh || e.fresh.lifetime - age >= *directives.min_fresh);
    const bool stale_accepted = acceptable && e.kind == entry_kind::object &&
                                directives.max_stale && !e.effective().never_stale &&
                                e.effective().staleness(now) <= *directives.max_stale;
    if (acceptable && e.is_fresh(now)) {
      count(stat::hits);
      out.answer = served(e, now, cache_status::hit);
    } else if (acceptable && e.kind == entry_kind::object && e.usable_while_revalidating(now)) {
      count(stat::stale_while_revalidate);
      refresh_in_background(request, out.object_key, *object);
      out.answer = served(e, now, cache_status::stale);
    } else if (stale_accepted) {
      count(stat::stale_accepted);
      out.answer = served(e, now, cache_status::stale);
    } else {
      // An expired error hides the copy it replaced: revalidate that one.
      out.stored = e.kind == entry_kind::negative ? e.previous : *object;
      only_if_cached();
    }
    return out;
  }

  // The caching-relevant fields of a response, owned, so a response_view can point at them.
  struct response_fields {
    explicit response_fields(const Response& r)
        : status(r.status()),
          cache_control(r.header("Cache-Control")),
          cdn_cache_control(r.header("CDN-Cache-Control")),
          expires(r.header("Expires")),
          date(r.header("Date")),
          age(r.header("Age")),
          last_modified(r.header("Last-Modified")),
          etag(r.header("ETag")),
          vary(r.header("Vary")),
          set_cookie(r.header("Set-Cookie")) {}

    [[nodiscard]] response_view view() const noexcept {
      return {.status = status,
              .cache_control = cache_control,
              .cdn_cache_control = cdn_cache_control,
              .expires = expires,
              .date = date,
              .age = age,
              .last_modified = last_modified,
              .etag = etag,
              .vary = vary,
              .has_set_cookie = !set_cookie.empty()};
    }

    int status;
    std::string cache_control, cdn_cache_control, expires, date, age, last_modified, etag, vary,
        set_cookie;
  };

  freshness evaluate(const edge_request& request, const Response& r,
                     std::chrono::sys_seconds request_time,
                     std::chrono::sys_seconds response_time) const {
    const response_fields fields{r};
    return evaluate_response({.method = "GET",
                              .cache_control = request.cache_control,
                              .has_authorization = request.has_authorization},
                             fields.view(), request_time, response_time, opts_.freshness);
  }

  static bool has_validators(const Response& r) {
    return !std::string(r.header("ETag")).empty() ||
           !std::string(r.header("Last-Modified")).empty();
  }

  // Calls the origin, synchronous or asynchronous, and hands its answer to `then` exactly
  // once. An origin that throws, or an asynchronous origin that answers twice, is handled:
  // the throw is an unreachable origin, the second answer is ignored.
  void call_origin(const origin_request& request, origin_callback<Response> then) {
    count(stat::origin_fetches);
    bool closed = false;
    {
      const std::lock_guard lock{flights_mutex_};
      closed = closed_;
      if (!closed) ++origin_calls_running_;
    }
    if (closed) {
      then(std::nullopt);  // the edge_cache is gone: answer as unreachable, with no lock held
      return;
    }
    struct running_guard {
      edge_state* self;
      ~running_guard() {
        const std::lock_guard lock{self->flights_mutex_};
        if (--self->origin_calls_running_ == 0) self->origin_idle_.notify_all();
      }
    };
    if (opts_.origin) {
      std::optional<Response> response;
      {
        const running_guard guard{this};
        try {
          response = opts_.origin(request);
        } catch (...) {
          response.reset();
        }
      }
      then(std::move(response));
      return;
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
        opts_.async_origin(request, once);
      } catch (...) {
        threw = true;
      }
    }
    if (threw) once(std::nullopt);
  }

  // After the cache had nothing to answer with: pass through, or join the key's waiting list.
  void go_to_origin(request_ptr request, lookup_outcome found, done_fn done) {
    if (found.pass) {
      pass(std::move(request), std::move(done));
    } else {
      fetch_coalesced(std::move(request), std::move(found.object_key), std::move(found.stored),
                      std::move(done));
    }
  }

  // To the origin for this request alone, outside the waiting list. The answer is still
  // stored when it is cacheable (hit-for-miss, not hit-for-pass): a URL whose responses
  // become cacheable is cached again at once instead of after hit_for_miss_ttl.
  void pass(request_ptr request, done_fn done) {
    std::string key = request->key;
    fetch_and_store(std::move(request), std::move(key), nullptr,
                    [done = std::move(done)](result answer, bool) { done(std::move(answer)); });
  }

  static Response synthesized(int status) {
    Response r{};
    if constexpr (requires { r.set_status(status); }) r.set_status(status);
    r.set_header("Cache-Control", "no-store");
    return r;
  }

  // The waiting list: the first request for a key fetches, the others wait for its result.
  void fetch_coalesced(request_ptr request, std::string object_key, entry_ptr stored,
                       done_fn done) {
    auto f = std::make_shared<flight>();
    f->encoding = normalized_encoding(request->accept_encoding);
    {
      const std::lock_guard lock{flights_mutex_};
      auto& slot = flights_[object_key];
      if (slot) {
        const bool same_encoding = slot->encoding == f->encoding;
        slot->waiters.push_back([self = this->shared_from_this(), request, same_encoding,
                                 done = std::move(done)](const result& answer, bool shareable) {
          if (!shareable) {
            self->pass(request, done);  // the response was not cacheable: fetch our own
            return;
          }
          // A first fetch of a URL learns only from its response that it varies on
          // Accept-Encoding: a waiter that asked for another coding looks again, and now
          // finds (or fetches, coalesced with its own kind) its own variant.
          if (!same_encoding && varies_on_encoding(answer.response)) {
            self->retry(request, done);
            return;
          }
          self->count(stat::coalesced);
          result shared = answer;
          shared.coalesced = true;
          done(std::move(shared));
        });
        return;
      }
      slot = f;
    }
    // Another leader may have stored the response and left between our lookup and our
    // registration: look again before going to the origin, so a key is fetched once.
    lookup_outcome again = lookup(request->view());
    if (again.answer) {
      finish_flight(object_key, f, *again.answer, true);
      done(std::move(*again.answer));
      return;
    }
    if (again.stored) stored = std::move(again.stored);
    fetch_and_store(std::move(request), object_key, std::move(stored),
                    [self = this->shared_from_this(), object_key, f, done = std::move(done)](
                        result answer, bool shareable) {
                      self->finish_flight(object_key, f, answer, shareable);
                      done(std::move(answer));
                    });
  }

  static bool varies_on_encoding(const Response& response) {
    const auto vary = parse_vary(std::string(response.header("Vary")));
    return std::find(vary.begin(), vary.end(), "accept-encoding") != vary.end();
  }

  // A request that waited for a variant other than its own: answered as if it had just
  // arrived (it is not counted as a second request).
  void retry(request_ptr request, done_fn done) {
    lookup_outcome found = lookup(request->view());
    if (found.answer) {
      done(std::move(*found.answer));
      return;
    }
    go_to_origin(std::move(request), std::move(found), std::move(done));
  }

  // Ends a key's flight: later requests start their own, the waiters get the answer.
  void finish_flight(const std::string& object_key, const std::shared_ptr<flight>& f,
                     const result& answer, bool shareable) {
    std::vector<std::function<void(const result&, bool)>> waiters;
    {
      const std::lock_guard lock{flights_mutex_};
      waiters = std::move(f->waiters);
      const auto it = flights_.find(object_key);
      if (it != flights_.end() && it->second == f) flights_.erase(it);
    }
    for (auto& waiter : waiters)
      waiter(answer, shareable);
  }

  void refresh_in_background(const edge_request& request, const std::string& object_key,
                             const entry_ptr& stored) {
    auto f = std::make_shared<flight>();
    {
      const std::lock_guard lock{flights_mutex_};
      if (closed_) return;
      auto& slot = flights_[object_key];
      if (slot) return;  // a fetch for this key is already under way
      slot = f;
    }
    count(stat::background_refreshes);
    auto task = [self = this->shared_from_this(), f, object_key, stored,
                 owned = std::make_shared<const owned_edge_request>(edge_request{
                     .key = request.key, .accept_encoding = request.accept_encoding})] {
      self->fetch_and_store(owned, object_key, stored,
                            [self, object_key, f](result answer, bool shareable) {
                              self->finish_flight(object_key, f, answer, shareable);
                            });
    };
    if (background_) {
      background_(std::move(task));
    } else {
      task();  // an asynchronous origin: starting the fetch does not block
    }
  }

  // Fetches from the origin (conditionally when a copy is stored), stores what may be
  // stored, and hands `then` the answer and whether waiting requests may share it.
  void fetch_and_store(request_ptr request, std::string object_key, entry_ptr stored,
                       fetched_fn then) {
    origin_request out{
        .key = request->key,
        .accept_encoding = std::string(normalized_encoding(request->accept_encoding))};
    if (stored && stored->kind == entry_kind::object) {
      out.if_none_match = stored->response.header("ETag");
      out.if_modified_since = stored->response.header("Last-Modified");
    }
    const auto request_time = wall_now();
    call_origin(out, [self = this->shared_from_this(), request = std::move(request),
                      object_key = std::move(object_key), stored = std::move(stored), request_time,
                      then = std::move(then)](std::optional<Response> response) {
      auto [answer, shareable] = self->store_response(request->view(), object_key, stored,
                                                      std::move(response), request_time);
      then(std::move(answer), shareable);
    });
  }

  // What an origin answer means for the cache and for the request that asked for it.
  std::pair<result, bool> store_response(const edge_request& request, const std::string& object_key,
                                         const entry_ptr& stored, std::optional<Response> response,
                                         std::chrono::sys_seconds request_time) {
    const auto response_time = wall_now();
    // The failures stale-if-error covers (RFC 5861): no answer, or 500, 502, 503, 504.
    const auto failed_status = [](int status) {
      return status == 500 || status == 502 || status == 503 || status == 504;
    };
    const bool origin_failed = !response || failed_status(response->status());
    if (origin_failed) {
      if (stored && stored->usable_on_error(response_time)) {
        count(stat::stale_if_error);
        return {served(*stored, response_time, cache_status::stale), true};
      }
      if (!response) {
        count(stat::errors);
        // 504 when a copy exists but may not be served stale (must-revalidate).
        const bool had_copy = stored && stored->kind == entry_kind::object;
        return {result{synthesized(had_copy ? 504 : 502), cache_status::error, {}, false}, true};
      }
      count(stat::misses);
      store_negative(object_key, *response, response_time, stored);
      return {result{std::move(*response), cache_status::miss, {}, false}, true};
    }

    if (response->status() == 304 && stored && stored->kind == entry_kind::object) {
      Response merged = stored->response;
      if constexpr (requires { response->headers(); }) {
        for (const auto& [name, value] : response->headers()) {
          if (detail::iequals(name, "Content-Length") ||
              detail::iequals(name, "Content-Encoding") || detail::iequals(name, "Content-Range") ||
              detail::iequals(name, "ETag")) {
            continue;
          }
          merged.set_header(name, value);
        }
      }
      const freshness f = evaluate(request, merged, request_time, response_time);
      if (f.storable()) store_object(object_key, merged, f, response_time);
      count(stat::revalidated);
      result answer{std::move(merged), cache_status::revalidated, f.current_age(response_time),
                    false};
      answer.response.set_header("Age", std::to_string(answer.age.count()));
      return {std::move(answer), true};
    }

    const freshness f = evaluate(request, *response, request_time, response_time);
    const auto vary = parse_vary(std::string(response->header("Vary")));
    const bool vary_supported = std::all_of(
        vary.begin(), vary.end(), [](const std::string& v) { return v == "accept-encoding"; });
    if (f.storable() && vary_supported) {
      const std::string key =
          vary.empty() ? request.key : variant_key(request.key, request.accept_encoding);
      if (!vary.empty()) store_vary_marker(request.key);
      store_object(key, *response, f, response_time);
      count(stat::misses);
      return {result{std::move(*response), cache_status::miss, {}, false}, true};
    }
    // Uncacheable. Remember it when the response itself says so (not when only this request
    // was special, e.g. it carried Authorization), so later requests skip the waiting list.
    count(stat::passes);
    const bool response_says_so =
        !vary_supported || f.verdict == store_verdict::no_store ||
        f.verdict == store_verdict::private_response || f.verdict == store_verdict::set_cookie ||
        f.verdict == store_verdict::vary_star || f.verdict == store_verdict::status_not_cacheable;
    const cache_directives request_directives = parse_cache_control(request.cache_control);
    if (response_says_so && !request_directives.no_store) {
      store_hit_for_miss(request.key, response_time);
    }
    return {result{std::move(*response), cache_status::pass, {}, false}, false};
  }

  void put_entry(const std::string& key, std::shared_ptr<entry> e, std::chrono::seconds ttl) {
    e->generation = next_generation_.fetch_add(1, std::memory_order_relaxed);
    index_.add(key, e->generation, e->tags);
    try {
      storage_.put(key, entry_ptr{e}, std::max(ttl, std::chrono::seconds{1}));
    } catch (...) {
      index_.remove(key, e->generation);  // larger than the whole cache: not stored
    }
  }

  void store_object(const std::string& key, const Response& response, const freshness& f,
                    std::chrono::sys_seconds now) {
    auto e = std::make_shared<entry>();
    e->kind = entry_kind::object;
    e->response = response;
    e->response.remove_header("Age");  // our own Age is computed on every hit
    e->fresh = f;
    e->tags = parse_surrogate_keys(std::string(response.header("Surrogate-Key")));
    const auto keep =
        has_validators(response) ? opts_.keep_for_revalidation : std::chrono::seconds{0};
    put_entry(key, std::move(e), f.usable_until() - now + keep);
  }

  // A short-lived copy of an origin error, at the object's own key (a Vary marker stays). The
  // copy it replaces is kept inside it, for a conditional revalidation once it expires.
  void store_negative(const std::string& key, const Response& response,
                      std::chrono::sys_seconds now, const entry_ptr& replaced) {
    if (opts_.negative_ttl <= std::chrono::seconds{0}) return;
    auto e = std::make_shared<entry>();
    e->kind = entry_kind::negative;
    if (replaced) {
      e->previous = replaced->kind == entry_kind::negative ? replaced->previous : replaced;
    }
    // A purge of the copy's tags also removes the error that hides it, and the copy is kept
    // for as long as it would have been.
    auto ttl = opts_.negative_ttl;
    if (e->previous) {
      e->tags = e->previous->tags;
      const auto keep = has_validators(e->previous->response) ? opts_.keep_for_revalidation
                                                              : std::chrono::seconds{0};
      ttl = std::max(ttl, e->previous->effective().usable_until() - now + keep);
    }
    e->response = response;
    e->negative_until = now + opts_.negative_ttl;
    e->fresh.response_time = now;
    e->fresh.lifetime = opts_.negative_ttl;
    put_entry(key, std::move(e), ttl);
  }

  void store_vary_marker(const std::string& key) {
    auto e = std::make_shared<entry>();
    e->kind = entry_kind::vary_marker;
    put_entry(key, std::move(e), opts_.keep_for_revalidation + std::chrono::hours{24});
  }

  void store_hit_for_miss(const std::string& key, std::chrono::sys_seconds now) {
    if (opts_.hit_for_miss_ttl <= std::chrono::seconds{0}) return;
    auto e = std::make_shared<entry>();
    e->kind = entry_kind::hit_for_miss;
    e->pass_until = now + opts_.hit_for_miss_ttl;
    put_entry(key, std::move(e), opts_.hit_for_miss_ttl);
  }

  std::size_t erase_all(const std::vector<std::string>& keys) {
    std::size_t erased = 0;
    for (const auto& key : keys) {
      if (storage_.erase(key)) ++erased;
    }
    count(stat::purged, erased);
    return erased;
  }

  std::size_t mark_stale(const std::vector<std::string>& keys) {
    const auto now = wall_now();
    std::size_t marked = 0;
    for (const auto& key : keys) {
      const auto current = storage_.get(key);
      if (!current || (*current)->kind != entry_kind::object || (*current)->soft_purged_at) {
        continue;
      }
      auto copy = std::make_shared<entry>(**current);
      copy->soft_purged_at = now;
      const auto keep =
          std::max(copy->effective().usable_until() - now, std::chrono::seconds{0}) +
          (has_validators(copy->response) ? opts_.keep_for_revalidation : std::chrono::seconds{0});
      put_entry(key, std::move(copy), keep);
      ++marked;
    }
    count(stat::purged, marked);
    return marked;
  }

  options opts_;
  detail::purge_index index_;
  storage_type storage_;
  std::atomic<std::uint64_t> next_generation_{1};

  relaxed_counter counters_[static_cast<std::size_t>(stat::count_)];

  std::function<void(std::function<void()>)> background_{opts_.background};

  std::mutex flights_mutex_;
  std::unordered_map<std::string, std::shared_ptr<flight>> flights_;
  std::condition_variable origin_idle_;
  std::size_t origin_calls_running_ = 0;
  bool closed_ = false;
};

}  // namespace detail

template <edge_key Key = std::string, edge_response Response = http_response>
class edge_cache {
 public:
  using key_type = Key;
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

  // Runs the refreshes queued on the default background thread and waits for origin calls
  // still running; the origin is not called after this returns. Asynchronous fetches still
  // in flight complete later into state that lives until they do (their answers are dropped).
  ~edge_cache() {
    worker_.reset();
    state_->close();
  }

  // Answers one request: from cache when possible, else from the origin (once per key).
  // Blocks while the origin is fetched (or while another request's fetch for the key runs);
  // with an async_origin, do not call it on a thread the origin needs to make progress.
  [[nodiscard]] result get(const edge_request& request) { return state_->get(request); }

  // Answers one request without blocking: `done(result)` runs inside this call when the
  // cache can answer, otherwise on the thread that delivers the origin's answer (the origin's
  // own thread for an async_origin, this thread for a synchronous origin). The request's
  // views need to stay valid only during this call. `done` must not throw.
  // scaling::asio::async_get wraps this as an Asio operation with completion tokens.
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

  // Removes the stored responses for `key` (all its variants). Returns how many.
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

namespace detail {

// What a parent tier answers a child with: nothing when it could not reach its own origin,
// a 304 when the child's validator matches the parent's copy, else the response.
template <class Response>
std::optional<Response> as_parent_answer(edge_result<Response> answer,
                                         const std::string& if_none_match) {
  if (answer.status == cache_status::error) return std::nullopt;
  if (!if_none_match.empty() && if_none_match == std::string(answer.response.header("ETag"))) {
    Response not_modified = std::move(answer.response);
    if constexpr (requires { not_modified.set_status(304); }) not_modified.set_status(304);
    if constexpr (requires { not_modified.set_body(std::string{}); }) {
      not_modified.set_body(std::string{});
    }
    return not_modified;
  }
  return std::move(answer.response);
}

}  // namespace detail

// Makes an edge cache the origin of another (edge -> shield -> origin). A conditional
// request whose ETag matches the parent's copy is answered with a 304. The parent must
// outlive the child.
template <class Key, class Response>
[[nodiscard]] origin_fetch<Response> as_origin(edge_cache<Key, Response>& parent) {
  return [&parent](const origin_request& request) -> std::optional<Response> {
    return detail::as_parent_answer(
        parent.get({.key = request.key, .accept_encoding = request.accept_encoding}),
        request.if_none_match);
  };
}

// as_origin for an asynchronous child: the parent answers through get_async, so a tier of
// edges on io_contexts never blocks a thread on a miss. The parent must outlive the child.
template <class Key, class Response>
[[nodiscard]] async_origin_fetch<Response> as_async_origin(edge_cache<Key, Response>& parent) {
  return [&parent](const origin_request& request, origin_callback<Response> answer) {
    parent.get_async({.key = request.key, .accept_encoding = request.accept_encoding},
                     [if_none_match = request.if_none_match,
                      answer = std::move(answer)](edge_result<Response> result) {
                       answer(detail::as_parent_answer(std::move(result), if_none_match));
                     });
  };
}

}  // namespace scaling
