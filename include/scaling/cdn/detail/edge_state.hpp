// scaling/cdn/detail/edge_state.hpp: the engine behind edge_cache: lookup, origin fetches,
// storage and purges.
//
// What it is: everything one edge cache holds, in shared memory that asynchronous fetches
// keep alive (an origin answering after the edge_cache is gone stores into live memory, and
// is ignored). It ties the parts together: the request is looked up in storage (the RFC 9111
// rules of storage_rules.hpp), a miss goes to the origin through the waiting list
// (waiting_list.hpp) and the origin adapter (origin.hpp), the answer is stored unless a purge
// ran since the fetch began (purge_index.hpp), and variants are keyed by normalised
// Accept-Encoding (variant_key.hpp).
//
// When to pick it: through edge_cache (edge_cache.hpp), never directly.
//
//   auto state = std::make_shared<scaling::detail::edge_state<scaling::http_response>>(options);
//   auto r = state->get({.key = "/a"});
//
// Thread safety: every member may be called from any thread. Locks, always taken in this
// order and never held across an origin call or a callback: store_mutex_ (stores and purges,
// and the purge log), then the storage's own lock, then the purge index's. The waiting list
// and the origin adapter have their own locks, taken alone. A hit takes only the storage lock.
// Complexity: a hit is one hash lookup and a response copy.
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
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <scaling/caching/cache.hpp>
#include <scaling/cdn/cache_control.hpp>
#include <scaling/cdn/detail/purge_index.hpp>
#include <scaling/cdn/detail/storage_rules.hpp>
#include <scaling/cdn/detail/variant_key.hpp>
#include <scaling/cdn/detail/waiting_list.hpp>
#include <scaling/cdn/edge_options.hpp>
#include <scaling/cdn/edge_request.hpp>
#include <scaling/cdn/origin.hpp>
#include <scaling/core/deadline.hpp>
#include <scaling/core/stats.hpp>

namespace scaling::detail {

template <class Response>
class edge_state : public std::enable_shared_from_this<edge_state<Response>> {
 public:
  using options = edge_options<Response>;
  using result = edge_result<Response>;
  using done_fn = std::function<void(result)>;

  explicit edge_state(options opts)
      : opts_(validate_edge_options(std::move(opts))),
        origin_(std::move(opts_.origin), std::move(opts_.async_origin)),
        storage_(opts_.capacity_bytes, storage_options()) {}

  // Set once by the owning edge_cache: where stale-while-revalidate refreshes run.
  void set_background(std::function<void(std::function<void()>)> run) {
    background_ = std::move(run);
  }

  // After close() the origin is never called again (fetches answer as if it were
  // unreachable), and no origin call started before it is still running. Idempotent.
  void close() { origin_.close(); }
  [[nodiscard]] bool closed() const { return origin_.closed(); }

  result get(const edge_request& request) {
    count(stat::requests);
    lookup_outcome found = lookup(request);
    if (found.answer) return std::move(*found.answer);
    // The origin path: the same callback machinery as get_async, waited for here. A blocking
    // origin runs on this thread when this request leads the fetch; as a waiter told to
    // fetch its own, this request does so here too, never on the leader's thread.
    auto slot = std::make_shared<answer_slot>();
    auto owned = std::make_shared<const owned_edge_request>(request);
    const auto ask_slot = [slot](again kind) { slot->ask(kind); };
    go_to_origin(owned, std::move(found), deliver_to(slot), ask_slot);
    for (;;) {
      std::unique_lock lock{slot->mutex};
      slot->ready.wait(lock, [&slot] { return slot->value || slot->retry; });
      if (slot->value) return std::move(*slot->value);
      const again kind = *slot->retry;
      slot->retry.reset();
      lock.unlock();
      look_again(owned, kind, deliver_to(slot), ask_slot);
    }
  }

  // get with a deadline and a stop token: the caller leaves at either, the fetch goes on
  // (with a blocking origin, on a thread started for it) and is stored for the others.
  wait_result<result> get_until(const edge_request& request,
                                std::chrono::steady_clock::time_point deadline,
                                std::stop_token stop) {
    count(stat::requests);
    lookup_outcome found = lookup(request);
    if (found.answer) return wait_result<result>{std::in_place, std::move(*found.answer)};
    if (closed()) return wait_result<result>{wait_status::closed};
    auto slot = std::make_shared<answer_slot>();
    auto owned = std::make_shared<const owned_edge_request>(request);
    run_apart([self = this->shared_from_this(), owned, found = std::move(found), slot]() mutable {
      self->go_to_origin(owned, std::move(found), deliver_to(slot),
                         self->look_again_apart(owned, deliver_to(slot)));
    });
    std::unique_lock lock{slot->mutex};
    if (slot->ready.wait_until(lock, stop, deadline, [&slot] { return slot->value.has_value(); })) {
      return wait_result<result>{std::in_place, std::move(*slot->value)};
    }
    return wait_result<result>{stop.stop_requested() ? wait_status::stopped
                                                     : wait_status::timed_out};
  }

  void get_async(const edge_request& request, done_fn done) {
    count(stat::requests);
    lookup_outcome found = lookup(request);
    if (found.answer) {
      done(std::move(*found.answer));
      return;
    }
    auto owned = std::make_shared<const owned_edge_request>(request);
    auto on_again = look_again_apart(owned, done);
    go_to_origin(std::move(owned), std::move(found), std::move(done), std::move(on_again));
  }

  std::optional<result> try_get(const edge_request& request) {
    lookup_outcome found = lookup(request);
    if (found.answer) count(stat::requests);
    return std::move(found.answer);
  }

  // Purges run under store_mutex_, and are logged for the fetches in flight: an entry being
  // stored at the same moment is either removed or not stored, and a response fetched before
  // the purge is not stored after it.
  std::size_t purge(std::string_view key) {
    const std::lock_guard lock{store_mutex_};
    purges_.record_key(key);
    return erase_all(stored_keys_of(key));
  }
  std::size_t purge_prefix(std::string_view prefix) {
    const std::lock_guard lock{store_mutex_};
    purges_.record_prefix(prefix);
    return erase_all(index_.keys_with_prefix(prefix));
  }
  std::size_t purge_tag(std::string_view tag) {
    const std::lock_guard lock{store_mutex_};
    purges_.record_tag(tag);
    return erase_all(index_.keys_with_tag(tag));
  }
  std::size_t purge_all() {
    const std::lock_guard lock{store_mutex_};
    purges_.record_all();
    return erase_all(index_.all_keys());
  }
  std::size_t soft_purge(std::string_view key) {
    const std::lock_guard lock{store_mutex_};
    purges_.record_key(key);
    return mark_stale(stored_keys_of(key));
  }
  std::size_t soft_purge_prefix(std::string_view prefix) {
    const std::lock_guard lock{store_mutex_};
    purges_.record_prefix(prefix);
    return mark_stale(index_.keys_with_prefix(prefix));
  }
  std::size_t soft_purge_tag(std::string_view tag) {
    const std::lock_guard lock{store_mutex_};
    purges_.record_tag(tag);
    return mark_stale(index_.keys_with_tag(tag));
  }

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
  [[nodiscard]] bool has_sync_origin() const noexcept { return origin_.blocking(); }
  [[nodiscard]] bool has_background() const noexcept { return static_cast<bool>(background_); }

 private:
  using entry = edge_entry<Response>;
  using entry_ptr = std::shared_ptr<const entry>;
  using request_ptr = std::shared_ptr<const owned_edge_request>;
  // A finished fetch: the answer, and whether requests waiting for the key may share it.
  using fetched_fn = std::function<void(result, bool shareable)>;
  using storage_type = cache<std::string, entry_ptr, lru, mutex_locked>;

  // What a waiter that may not share the answer does instead: fetch for itself alone (the
  // response was uncacheable), or look the request up again (it varies on an encoding this
  // request did not ask for).
  enum class again : std::uint8_t { pass, look_up };
  using again_fn = std::function<void(again)>;

  // Where a blocking get waits: for its answer, or to be told to fetch its own.
  struct answer_slot {
    std::mutex mutex;
    std::condition_variable_any ready;
    std::optional<result> value;
    std::optional<again> retry;

    void deliver(result r) {
      const std::lock_guard lock{mutex};
      value = std::move(r);
      ready.notify_all();
    }
    void ask(again kind) {
      const std::lock_guard lock{mutex};
      retry = kind;
      ready.notify_all();
    }
  };
  // The slot stays alive for an answer that lands after its waiter left (get_until).
  static done_fn deliver_to(const std::shared_ptr<answer_slot>& slot) {
    return [slot](result r) { slot->deliver(std::move(r)); };
  }

  // Notes, under store_mutex_, the purge epoch at which a fetch began, and forgets it when
  // the fetch is done (stored or not, or dropped by an origin that never answers).
  struct fetch_ticket {
    std::shared_ptr<edge_state> self;
    std::uint64_t epoch;
    fetch_ticket(std::shared_ptr<edge_state> s, std::uint64_t e) : self(std::move(s)), epoch(e) {}
    fetch_ticket(const fetch_ticket&) = delete;
    fetch_ticket& operator=(const fetch_ticket&) = delete;
    ~fetch_ticket() {
      const std::lock_guard lock{self->store_mutex_};
      self->purges_.end_fetch(epoch);
    }
  };

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
        out.answer = result{synthesized<Response>(504), cache_status::error, {}, false};
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

  freshness evaluate(const edge_request& request, const Response& r,
                     std::chrono::sys_seconds request_time,
                     std::chrono::sys_seconds response_time) const {
    return evaluate_for_edge(request, r, request_time, response_time, opts_.freshness);
  }

  // Runs `task` where it may block on the origin without holding up the caller: inline for
  // an asynchronous origin (starting a fetch does not block), on a thread of its own for a
  // blocking one (inline if no thread can be started).
  void run_apart(std::function<void()> task) {
    if (!origin_.blocking()) {
      task();
      return;
    }
    try {
      std::thread{task}.detach();
    } catch (const std::system_error&) {
      task();
    }
  }

  // A waiter's way of fetching its own: apart from the thread that tells it to.
  again_fn look_again_apart(const request_ptr& request, done_fn done) {
    return [weak = this->weak_from_this(), request, done = std::move(done)](again kind) {
      const auto self = weak.lock();
      if (!self) return;
      self->run_apart([self, request, done, kind] {
        self->look_again(request, kind, done, self->look_again_apart(request, done));
      });
    };
  }

  void look_again(const request_ptr& request, again kind, done_fn done, again_fn on_again) {
    if (kind == again::pass) {
      pass(request, std::move(done));
    } else {
      retry(request, std::move(done), std::move(on_again));
    }
  }

  // After the cache had nothing to answer with: pass through, or join the key's waiting list.
  void go_to_origin(request_ptr request, lookup_outcome found, done_fn done, again_fn on_again) {
    if (found.pass) {
      pass(std::move(request), std::move(done));
    } else {
      fetch_coalesced(std::move(request), std::move(found.object_key), std::move(found.stored),
                      std::move(done), std::move(on_again));
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

  // The waiting list: the first request for a key fetches, the others wait for its result.
  void fetch_coalesced(request_ptr request, std::string object_key, entry_ptr stored, done_fn done,
                       again_fn on_again) {
    const auto f = flights_.lead_or_join(
        object_key, std::string{normalized_encoding(request->accept_encoding)},
        [&](bool same_encoding) {
          return [self = this->shared_from_this(), same_encoding, done = std::move(done),
                  on_again = std::move(on_again)](const result& answer, bool shareable) {
            if (!shareable) {
              on_again(again::pass);  // the response was not cacheable: fetch our own
              return;
            }
            // A first fetch of a URL learns only from its response that it varies on
            // Accept-Encoding: a waiter that asked for another coding looks again, and now
            // finds (or fetches, coalesced with its own kind) its own variant.
            if (!same_encoding && varies_on_encoding(answer.response)) {
              on_again(again::look_up);
              return;
            }
            self->count(stat::coalesced);
            result shared = answer;
            shared.coalesced = true;
            done(std::move(shared));
          };
        });
    if (!f) return;  // joined the flight in the air
    // Another leader may have stored the response and left between our lookup and our
    // registration: look again before going to the origin, so a key is fetched once.
    lookup_outcome found = lookup(request->view());
    if (found.answer) {
      finish_flight(object_key, f, *found.answer, true);
      done(std::move(*found.answer));
      return;
    }
    if (found.stored) stored = std::move(found.stored);
    fetch_and_store(std::move(request), object_key, std::move(stored),
                    [self = this->shared_from_this(), object_key, f, done = std::move(done)](
                        result answer, bool shareable) {
                      // Waiters that may not share the answer are only told so here: each
                      // fetches its own elsewhere, so the leader is answered at once.
                      self->finish_flight(object_key, f, answer, shareable);
                      done(std::move(answer));
                    });
  }

  // A request that waited for a variant other than its own: answered as if it had just
  // arrived (it is not counted as a second request).
  void retry(const request_ptr& request, done_fn done, again_fn on_again) {
    lookup_outcome found = lookup(request->view());
    if (found.answer) {
      done(std::move(*found.answer));
      return;
    }
    go_to_origin(request, std::move(found), std::move(done), std::move(on_again));
  }

  // Ends a key's flight: later requests start their own, the waiters get the answer.
  void finish_flight(const std::string& object_key,
                     const typename waiting_list<result>::flight_ptr& f, const result& answer,
                     bool shareable) {
    for (auto& waiter : flights_.finish(object_key, f))
      waiter(answer, shareable);
  }

  void refresh_in_background(const edge_request& request, const std::string& object_key,
                             const entry_ptr& stored) {
    if (closed()) return;
    const auto f = flights_.try_lead(object_key);
    if (!f) return;  // a fetch for this key is already under way
    // A refresh may have stored a fresh copy and ended its flight between this request's
    // lookup and its lead: then there is nothing to refresh. The flight ends at once, and a
    // request that joined it in between is told the copy now stored, as its lookup would.
    if (const auto now_stored = storage_.peek(object_key);
        now_stored && *now_stored != stored && (*now_stored)->kind == entry_kind::object) {
      const auto now = wall_now();
      if ((*now_stored)->is_fresh(now)) {
        finish_flight(object_key, f, served(**now_stored, now, cache_status::hit), true);
        return;
      }
    }
    count(stat::background_refreshes);
    auto task = [self = this->shared_from_this(), f, object_key, stored,
                 owned = std::make_shared<const owned_edge_request>(edge_request{
                     .key = request.key, .accept_encoding = request.accept_encoding})] {
      // Run after close(): the origin adapter answers at once, as unreachable, without
      // calling the origin, and the requests waiting for the key get a stale copy or a 502.
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
    std::shared_ptr<const fetch_ticket> ticket;
    {
      const std::lock_guard lock{store_mutex_};
      ticket =
          std::make_shared<const fetch_ticket>(this->shared_from_this(), purges_.begin_fetch());
    }
    const bool called = origin_.call(out, [self = this->shared_from_this(), request, object_key,
                                           stored, request_time, ticket,
                                           then](std::optional<Response> response) {
      // RFC 9111 section 4.3.4: a 304 that does not identify the stored copy may not
      // update it; the copy is fetched again, in full.
      if (response && response->status() == 304 && stored && stored->kind == entry_kind::object &&
          !not_modified_selects(stored->response, *response)) {
        self->fetch_and_store(request, object_key, nullptr, then);
        return;
      }
      auto [answer, shareable] = self->store_response(
          request->view(), object_key, stored, std::move(response), request_time, ticket->epoch);
      then(std::move(answer), shareable);
    });
    if (called) count(stat::origin_fetches);
  }

  // What an origin answer means for the cache and for the request that asked for it.
  std::pair<result, bool> store_response(const edge_request& request, const std::string& object_key,
                                         const entry_ptr& stored, std::optional<Response> response,
                                         std::chrono::sys_seconds request_time,
                                         std::uint64_t fetched_at) {
    const auto response_time = wall_now();
    if (response) add_date_if_missing(*response, response_time);
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
        return {result{synthesized<Response>(had_copy ? 504 : 502), cache_status::error, {}, false},
                true};
      }
      // Negative caching stores an error only where storing it is allowed at all.
      if (forbids_storing(evaluate(request, *response, request_time, response_time).verdict)) {
        count(stat::passes);
        return {result{std::move(*response), cache_status::pass, {}, false}, false};
      }
      count(stat::misses);
      store_negative(object_key, *response, response_time, stored, fetched_at);
      return {result{std::move(*response), cache_status::miss, {}, false}, true};
    }

    if (response->status() == 304 && stored && stored->kind == entry_kind::object) {
      Response merged = merge_not_modified(stored->response, *response);
      const freshness f = evaluate(request, merged, request_time, response_time);
      if (f.storable()) store_object(object_key, merged, f, response_time, fetched_at);
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
      store_object(key, *response, f, response_time, fetched_at);
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

  // Stores `e` under `key`. `fetched_at`: the purge epoch when the fetch that produced it
  // began; it is not stored when a purge covering it ran since. Precondition: store_mutex_
  // held.
  void put_entry_locked(const std::string& key, std::shared_ptr<entry> e, std::chrono::seconds ttl,
                        std::optional<std::uint64_t> fetched_at) {
    if (fetched_at && purges_.purged_since(*fetched_at, url_of(key), e->tags)) return;
    e->generation = next_generation_.fetch_add(1, std::memory_order_relaxed);
    index_.add(key, e->generation, e->tags);
    try {
      storage_.put(key, entry_ptr{e}, std::max(ttl, std::chrono::seconds{1}));
    } catch (...) {
      index_.remove(key, e->generation);  // larger than the whole cache: not stored
    }
  }
  void put_entry(const std::string& key, std::shared_ptr<entry> e, std::chrono::seconds ttl,
                 std::optional<std::uint64_t> fetched_at) {
    const std::lock_guard lock{store_mutex_};
    put_entry_locked(key, std::move(e), ttl, fetched_at);
  }

  [[nodiscard]] std::chrono::seconds keep_after_use(const Response& response) const {
    return has_validators(response) ? opts_.keep_for_revalidation : std::chrono::seconds{0};
  }

  void store_object(const std::string& key, const Response& response, const freshness& f,
                    std::chrono::sys_seconds now, std::uint64_t fetched_at) {
    auto e = std::make_shared<entry>();
    e->kind = entry_kind::object;
    e->response = response;
    e->response.remove_header("Age");  // our own Age is computed on every hit
    e->fresh = f;
    e->tags = parse_surrogate_keys(std::string(response.header("Surrogate-Key")));
    put_entry(key, std::move(e), storage_ttl(f.usable_until(), now, keep_after_use(response)),
              fetched_at);
  }

  // A short-lived copy of an origin error, at the object's own key (a Vary marker stays). The
  // copy it replaces is kept inside it, for a conditional revalidation once it expires.
  void store_negative(const std::string& key, const Response& response,
                      std::chrono::sys_seconds now, const entry_ptr& replaced,
                      std::uint64_t fetched_at) {
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
      ttl = std::max(ttl, storage_ttl(e->previous->effective().usable_until(), now,
                                      keep_after_use(e->previous->response)));
    }
    e->response = response;
    e->negative_until = now + opts_.negative_ttl;
    e->fresh.response_time = now;
    e->fresh.lifetime = opts_.negative_ttl;
    put_entry(key, std::move(e), ttl, fetched_at);
  }

  void store_vary_marker(const std::string& key) {
    auto e = std::make_shared<entry>();
    e->kind = entry_kind::vary_marker;
    put_entry(key, std::move(e), opts_.keep_for_revalidation + std::chrono::hours{24},
              std::nullopt);
  }

  void store_hit_for_miss(const std::string& key, std::chrono::sys_seconds now) {
    if (opts_.hit_for_miss_ttl <= std::chrono::seconds{0}) return;
    auto e = std::make_shared<entry>();
    e->kind = entry_kind::hit_for_miss;
    e->pass_until = now + opts_.hit_for_miss_ttl;
    put_entry(key, std::move(e), opts_.hit_for_miss_ttl, std::nullopt);
  }

  // Precondition: store_mutex_ held.
  std::size_t erase_all(const std::vector<std::string>& keys) {
    std::size_t erased = 0;
    for (const auto& key : keys) {
      if (storage_.erase(key)) ++erased;
    }
    count(stat::purged, erased);
    return erased;
  }

  // Precondition: store_mutex_ held.
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
      const auto ttl = storage_ttl(std::max(copy->effective().usable_until(), now), now,
                                   keep_after_use(copy->response));
      put_entry_locked(key, std::move(copy), ttl, std::nullopt);
      ++marked;
    }
    count(stat::purged, marked);
    return marked;
  }

  options opts_;
  origin_adapter<Response> origin_;
  purge_index index_;
  storage_type storage_;
  std::atomic<std::uint64_t> next_generation_{1};

  relaxed_counter counters_[static_cast<std::size_t>(stat::count_)];

  std::function<void(std::function<void()>)> background_{opts_.background};

  waiting_list<result> flights_;

  std::mutex store_mutex_;
  purge_log purges_;  // guarded by store_mutex_
};

}  // namespace scaling::detail
