// scaling/caching/loading_cache.hpp: read-through caching with single-flight loads,
// invalidation leases, optional negative and failure caching, and optional probabilistic early
// expiration.
//
// What it is: `scaling::loading_cache<Key, Value, Eviction, Concurrency>` wraps a
// `scaling::cache` and a `single_flight`: `get_or_load(key, loader)` returns the cached value
// or calls the loader once for all concurrent misses of that key, caches the result and hands
// it to every waiter. The loader returns `std::optional<Value>` (nullopt: the key does not
// exist at the source); it takes the key, or the key and a `load_context` (the replication
// position the load must read at, see invalidation below).
// Absence and failure are remembered separately, each only when asked: "not found" answers for
// `negative_ttl` (negative caching, against floods of lookups for keys that do not exist), and
// loader exceptions for `failure_ttl` (off by default: one transient error must not be
// rethrown to every reader for long). A failure that is not remembered reaches the waiters of
// that load only; the next reader loads again.
// Invalidation has teeth: `invalidate(key)` (and `put`) void every load of the key in flight,
// through `invalidation_leases` (invalidation.hpp), so a load that read the old value before a
// write cannot cache it after the write's invalidation; its caller still gets that value, but
// it is not cached. `invalidate(key, position)` also makes the key's next loads read at or
// after the writer's commit position (a loader taking a load_context receives it), so a reload
// from a lagging replica cannot bring the old version back either.
// With early expiration on (`early_expiration.beta > 0`), a hit on an entry that expires flips
// the XFetch coin (xfetch.hpp) with delta = how long the last load of that key took on the
// cache's clock: a reader that comes up due reloads the key before it expires, through the same
// single-flight (one load per key however many are due), and returns the fresh value; the
// others return the cached one. If that early load throws, the still-valid cached value is
// returned (and counted in `stats().early_refresh_failures`); with failure caching on the
// failure is also remembered, which pauses early refreshes of the key for `failure_ttl`.
// When to pick it: the database sits behind the cache and all reads go through it
// (read-through); single-flight removes the stampede when a hot key expires; early expiration
// removes the expiry itself for keys read continuously (no reader ever waits on a miss);
// negative caching stops "cache penetration".
//
//   scaling::loading_cache<std::string, profile, scaling::w_tinylfu, scaling::sharded<8>> c{
//       10'000, {.expire_after_write = 5min},
//       {.negative_ttl = 30s, .early_expiration = {.beta = 1, .seed = 7}}};
//   auto p = c.get_or_load("u1", [&](const std::string& id, const scaling::load_context& ctx) {
//     return db.find_profile(id, ctx.min_position);
//   });
//   c.invalidate("u1", db.update_profile(...).position);  // writer, after its commit
//
// Early expiration suits expire_after_write (or per-entry TTLs set through values()): under
// expire_after_access alone a read re-arms the deadline, so a key read often never nears it.
// Thread safety: as the Concurrency tag (use a locked one when several threads load). The
// loader runs on the calling thread without any of the cache's locks held.
// Complexity: a hit is one cache read; with early expiration, a hit within ~37 x beta x the
// longest load so far of its expiry adds a read of the key's load time and a coin flip
// (lock-free); a miss or a due refresh adds one loader call per key and flight, and two short
// critical sections on the lease table.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <stop_token>
#include <type_traits>
#include <utility>

#include <scaling/caching/cache.hpp>
#include <scaling/caching/invalidation.hpp>
#include <scaling/caching/single_flight.hpp>
#include <scaling/caching/xfetch.hpp>
#include <scaling/core/deadline.hpp>
#include <scaling/core/error.hpp>
#include <scaling/core/hash.hpp>
#include <scaling/core/stats.hpp>

namespace scaling {

// Probabilistic early expiration (XFetch) of loading_cache hits.
struct early_expiration_options {
  // How far ahead of expiry a hit may reload, in units of the key's load time: 0 (the
  // default) never (off), 1 is XFetch's optimum, > 1 earlier. Finite and >= 0.
  double beta = 0;
  // Seeds the readers' coins, so a run (with a manual_clock) is reproducible.
  std::uint64_t seed = 0;
};

// What loading_cache adds to the cache's own options.
struct loading_options {
  // How long a "not found" answer (the loader returned nullopt) is remembered and answered
  // without calling the source; none (the default): never remembered. Absence only: a loader
  // exception is failure_ttl's business.
  std::optional<std::chrono::nanoseconds> negative_ttl{};
  // How long a failed load (the loader threw) is remembered and rethrown to every reader of
  // the key without calling the source; none (the default): never, each later reader loads
  // again (still one load per key at a time). Keep it short (a second or two) if you set it.
  std::optional<std::chrono::nanoseconds> failure_ttl{};
  // Entries the negative cache holds (a separate LRU cache for "not found" and failures).
  std::size_t negative_capacity = 1024;
  // Off unless early_expiration.beta > 0.
  early_expiration_options early_expiration{};
  // Keys whose invalidation position no load has read yet, kept one by one before their
  // positions fold into a floor every load reads at (invalidation_leases::max_remembered).
  std::size_t max_remembered_positions = 4096;
};

// The name loading_options had before it gained early_expiration.
using negative_caching_options = loading_options;

// A snapshot of a loading_cache's counters. Every get_or_load call counts exactly one hit or
// one miss.
struct loading_cache_stats {
  std::uint64_t hits = 0;             // answered from the cache: a value, or a remembered answer
  std::uint64_t misses = 0;           // found nothing cached: waited for a load, its own or shared
  std::uint64_t negative_hits = 0;    // hits answered by a remembered "not found" or failure
  std::uint64_t loads = 0;            // loader calls, successful or not
  std::uint64_t load_failures = 0;    // loader calls that threw
  std::uint64_t shared_loads = 0;     // misses that waited for another caller's loader call
  std::uint64_t discarded_loads = 0;  // loads not cached: the key was invalidated meanwhile
  std::uint64_t early_refreshes = 0;  // early reloads of a still-valid entry that completed
  std::uint64_t early_refresh_failures = 0;    // early reloads whose loader threw
  std::chrono::nanoseconds total_load_time{};  // all loader calls, on the cache's clock

  [[nodiscard]] std::uint64_t requests() const noexcept { return hits + misses; }
  // hits / (hits + misses), 0 before the first read.
  [[nodiscard]] double hit_ratio() const noexcept { return scaling::ratio(hits, hits + misses); }
  // total_load_time / loads, zero before the first load.
  [[nodiscard]] std::chrono::nanoseconds mean_load_time() const noexcept {
    if (loads == 0) return std::chrono::nanoseconds{0};
    return total_load_time / static_cast<std::int64_t>(loads);
  }
};

// A loader for loading_cache<Key, Value>: called with the key, or with the key and a
// load_context, it returns something convertible to std::optional<Value>.
template <class L, class Key, class Value>
concept cache_loader = loader_for<L, Key, std::optional<Value>>;

template <cache_key Key, class Value, eviction_policy Eviction = lru,
          concurrency_policy Concurrency = mutex_locked>
class loading_cache {
 public:
  using cache_type = cache<Key, Value, Eviction, Concurrency>;
  using options = typename cache_type::options;
  using lease_table =
      invalidation_leases<Key, detail::default_cache_hash<Key>, typename Concurrency::mutex_type>;

  // capacity and opts as for scaling::cache; loading as above.
  // Throws scaling::invalid_argument for a bad capacity, a TTL <= 0, a negative_ttl or
  // failure_ttl <= 0, negative_capacity 0 when either is on, max_remembered_positions 0, or an
  // early_expiration.beta that is negative or not finite.
  explicit loading_cache(std::size_t capacity, options opts = {}, loading_options loading = {})
      : clock_(opts.clock),
        negative_ttl_(loading.negative_ttl),
        failure_ttl_(loading.failure_ttl),
        beta_(loading.early_expiration.beta),
        seed_(loading.early_expiration.seed),
        leases_(loading.max_remembered_positions) {
    check_ttl("negative_ttl", negative_ttl_);
    check_ttl("failure_ttl", failure_ttl_);
    if (!(beta_ >= 0) || !std::isfinite(beta_)) {
      detail::throw_invalid_argument("scaling::loading_cache", "early_expiration.beta",
                                     "must be finite and >= 0", beta_);
    }
    if (negative_ttl_ || failure_ttl_) {
      if (loading.negative_capacity == 0) {
        detail::throw_invalid_argument("scaling::loading_cache", "negative_capacity",
                                       "must be >= 1", loading.negative_capacity);
      }
      negative_.emplace(loading.negative_capacity,
                        typename negative_cache::options{.clock = clock_});
    }
    const bool weighted = static_cast<bool>(opts.weigher);
    values_.emplace(capacity, std::move(opts));
    if (early()) {
      // One load time per key, for as many keys as the value cache can hold. With a weigher
      // that capacity is a weight: a unit weigher keeps the bound without sizing the table
      // for it up front.
      typename load_time_cache::options times;
      if (weighted) {
        times.weigher = [](const Key&, const std::chrono::nanoseconds&) -> std::size_t {
          return 1;
        };
      }
      load_times_.emplace(capacity, std::move(times));
    }
  }

  // The cached value, or the loader run once for all concurrent callers of this key, then
  // cached (unless the key was invalidated while it ran: see the banner). Returns nullopt when
  // the loader found nothing. With early expiration, a hit that comes up due reloads first
  // (see the banner) and returns the fresh value, or nullopt (and drops the entry) when the
  // source no longer has the key. Counts one hit or one miss.
  // Template parameters: Loader, a cache_loader (loader(key) or loader(key, load_context)).
  // Throws whatever the loader threw on a miss (to every waiter of that load), or a failure
  // remembered under failure_ttl; an early reload's exception is absorbed and the cached
  // value returned.
  template <class Loader>
  requires cache_loader<Loader, Key, Value> std::optional<Value> get_or_load(const Key& key,
                                                                             Loader&& loader) {
    return lookup(key, loader, unbounded_wait{});
  }

  // As get_or_load, waiting for another caller's load of the key at most until `deadline`, or
  // until `stop` is requested. Returns the answer (status ready; the optional inside is empty
  // when the source has no such key), or status timed_out / stopped: that load goes on and
  // still caches its value for later readers. A caller that runs the load itself returns when
  // its loader returns: the deadline bounds waiting, not the loader.
  // Throws as get_or_load.
  template <class Loader>
  requires cache_loader<Loader, Key, Value> wait_result<std::optional<Value>> get_or_load_until(
      const Key& key, Loader&& loader, std::chrono::steady_clock::time_point deadline,
      std::stop_token stop = {}) {
    return lookup(key, loader, bounded_wait{deadline, std::move(stop)});
  }

  // As get_or_load_until, with the deadline `timeout` from now (saturating: duration::max()
  // waits as long as the load takes).
  template <class Loader, class Rep, class Period>
  requires cache_loader<Loader, Key, Value> wait_result<std::optional<Value>> get_or_load_for(
      const Key& key, Loader&& loader, std::chrono::duration<Rep, Period> timeout,
      std::stop_token stop = {}) {
    return get_or_load_until(key, loader, deadline_after(std::chrono::steady_clock{}, timeout),
                             std::move(stop));
  }

  // Stores a value (e.g. after a write to the source) and forgets any remembered "not found"
  // or failure. Voids the key's loads in flight (their older values are not cached over it).
  template <class V>
  void put(const Key& key, V&& value) {
    leases_.invalidate(key);
    if (negative_) negative_->erase(key);
    values_->put(key, std::forward<V>(value));
  }

  // Drops the key (invalidate-on-write), including a remembered "not found" or failure, and
  // voids its loads in flight: a load that started before this call returns its value to its
  // own callers but does not cache it. With min_position > 0 (the writer's commit position),
  // the key's loads from now on are given a load_context with at least that min_position,
  // until one of them has its result cached. Call it after the source write has committed.
  // Throws std::bad_alloc (nothing invalidated).
  void invalidate(const Key& key, std::uint64_t min_position = 0) {
    leases_.invalidate(key, min_position);
    if (negative_) negative_->erase(key);
    values_->erase(key);
  }

  // A snapshot of the counters.
  [[nodiscard]] loading_cache_stats stats() const {
    const single_flight_stats flights = flights_.stats();
    loading_cache_stats s;
    s.hits = hits_.load();
    s.misses = misses_.load();
    s.negative_hits = negative_hits_.load();
    s.loads = loads_.load();
    s.load_failures = load_failures_.load();
    s.shared_loads = flights.shared;
    s.discarded_loads = discarded_.load();
    s.early_refreshes = early_refreshes_.load();
    s.early_refresh_failures = early_failures_.load();
    s.total_load_time = std::chrono::nanoseconds{load_time_.load(std::memory_order_relaxed)};
    return s;
  }

  // The underlying cache, for reads that must not load and for its own statistics (one
  // lookup per get_or_load, plus one per early reload).
  [[nodiscard]] cache_type& values() noexcept { return *values_; }
  // The lease table, for diagnostics (keys with a load in flight or a remembered position).
  [[nodiscard]] const lease_table& leases() const noexcept { return leases_; }

  [[deprecated("use stats().loads")]] [[nodiscard]] std::uint64_t loads() const noexcept {
    return loads_.load();
  }
  [[deprecated("use stats().shared_loads")]] [[nodiscard]] std::uint64_t shared_loads() const {
    return flights_.stats().shared;
  }
  [[deprecated("use stats().negative_hits")]] [[nodiscard]] std::uint64_t negative_hits()
      const noexcept {
    return negative_hits_.load();
  }
  [[deprecated("use stats().early_refreshes")]] [[nodiscard]] std::uint64_t early_refreshes()
      const noexcept {
    return early_refreshes_.load();
  }
  [[deprecated("use stats().early_refresh_failures")]] [[nodiscard]] std::uint64_t
  early_refresh_failures() const noexcept {
    return early_failures_.load();
  }

 private:
  using negative_cache = cache<Key, std::exception_ptr, lru, Concurrency>;
  using load_time_cache = cache<Key, std::chrono::nanoseconds, lru, Concurrency>;
  using flight_result = std::optional<Value>;

  // How get_or_load waits for a load another caller runs: for as long as it takes, or bounded.
  struct unbounded_wait {
    using result = flight_result;
    static result ready(flight_result v) { return v; }
    template <class Flights, class F>
    result run(Flights& flights, const Key& key, F&& f) const {
      return flights.run(key, std::forward<F>(f));
    }
  };
  struct bounded_wait {
    using result = wait_result<flight_result>;
    static result ready(flight_result v) { return result(std::in_place, std::move(v)); }
    template <class Flights, class F>
    result run(Flights& flights, const Key& key, F&& f) const {
      return flights.run_until(key, std::forward<F>(f), deadline, stop);
    }
    std::chrono::steady_clock::time_point deadline;
    std::stop_token stop;
  };

  // -ln(2^-53), rounded up: the furthest ahead (in units of delta x beta) any coin can act.
  static constexpr double max_coin_reach = 36.75;

  static void check_ttl(const char* name, const std::optional<std::chrono::nanoseconds>& ttl) {
    if (ttl && ttl->count() <= 0) {
      detail::throw_invalid_argument("scaling::loading_cache", name, "must be > 0 ns",
                                     ttl->count());
    }
  }

  [[nodiscard]] bool early() const noexcept { return beta_ > 0; }

  template <class Loader, class Wait>
  typename Wait::result lookup(const Key& key, Loader& loader, const Wait& wait) {
    if (!early()) {
      if (auto hit = values_->get(key)) {
        hits_.add();
        return Wait::ready(std::move(hit));
      }
    } else if (auto hit = values_->get_with_expiry(key)) {
      hits_.add();
      if (!hit->expires_at || !early_due(key, *hit->expires_at)) {
        return Wait::ready(std::move(hit->value));
      }
      const std::chrono::nanoseconds seen_expiry = *hit->expires_at;
      return wait.run(flights_, key,
                      [&]() -> flight_result { return reload_early(key, loader, seen_expiry); });
    }
    if (negative_) {
      if (auto remembered = negative_->get(key)) {
        hits_.add();
        negative_hits_.add();
        if (*remembered) std::rethrow_exception(*remembered);
        return Wait::ready(std::nullopt);
      }
    }
    misses_.add();
    return wait.run(flights_, key, [&]() -> flight_result {
      // Another flight may have filled the cache between our miss and this call.
      if (auto filled = values_->peek(key)) return filled;
      return load(key, loader, load_kind::miss);
    });
  }

  enum class load_kind : std::uint8_t { miss, early };

  // Calls the loader under a lease and caches the result (a value; a "not found" or a failure
  // when remembered) unless the key was invalidated meanwhile; returns it or rethrows.
  template <class Loader>
  flight_result load(const Key& key, Loader& loader, load_kind kind) {
    const invalidation_lease lease = leases_.acquire(key);
    lease_holder held{leases_, key, lease};
    const auto current = [&] { return leases_.valid(key, lease); };
    flight_result loaded;
    try {
      loaded = timed_load(key, loader, lease);
    } catch (...) {
      if (failure_ttl_) {
        (void)negative_->put_if(key, std::current_exception(), *failure_ttl_, current);
      }
      throw;
    }
    bool cached = false;
    if (loaded) {
      cached = values_->put_if(key, *loaded, current);
    } else {
      // The source no longer has a key an early reload found cached: drop the entry.
      if (kind == load_kind::early) values_->erase(key);
      if (negative_ttl_) {
        cached = negative_->put_if(key, std::exception_ptr{}, *negative_ttl_, current);
      }
    }
    if (!cached && !current()) discarded_.add();
    if (cached) held.outcome = load_outcome::cached;
    return loaded;
  }

  // Ends a lease however the load ends.
  struct lease_holder {
    lease_holder(lease_table& table, const Key& k, invalidation_lease l) noexcept
        : leases(table), key(k), lease(l) {}
    lease_holder(const lease_holder&) = delete;
    lease_holder& operator=(const lease_holder&) = delete;
    ~lease_holder() { leases.release(key, lease, outcome); }
    lease_table& leases;
    const Key& key;
    invalidation_lease lease;
    load_outcome outcome = load_outcome::not_cached;
  };

  // Calls the loader, counting it and timing it on the cache's clock.
  template <class Loader>
  flight_result timed_load(const Key& key, Loader& loader, const invalidation_lease& lease) {
    loads_.add();
    const std::chrono::nanoseconds start = clock_.now();
    flight_result loaded;
    try {
      loaded = detail::call_loader<flight_result>(loader, key,
                                                  load_context{.min_position = lease.min_position});
    } catch (...) {
      load_failures_.add();
      add_load_time(start);
      throw;
    }
    const std::chrono::nanoseconds took = add_load_time(start);
    if (early() && loaded) {
      // The bound first, so no reader that sees this load time skips the coin it allows.
      std::int64_t longest = longest_load_.load(std::memory_order_relaxed);
      while (took.count() > longest && !longest_load_.compare_exchange_weak(
                                           longest, took.count(), std::memory_order_relaxed)) {
      }
      load_times_->put(key, took);
    }
    return loaded;
  }

  std::chrono::nanoseconds add_load_time(std::chrono::nanoseconds start) {
    const std::chrono::nanoseconds took =
        std::max(clock_.now() - start, std::chrono::nanoseconds{0});
    load_time_.fetch_add(took.count(), std::memory_order_relaxed);
    return took;
  }

  // On a hit expiring at expires_at: whether this reader reloads now.
  bool early_due(const Key& key, std::chrono::nanoseconds expires_at) {
    const std::chrono::nanoseconds remaining = expires_at - clock_.now();
    // Further from expiry than any coin could act with the longest load seen so far: the
    // common case, decided without another lookup or a draw.
    const double reach =
        static_cast<double>(longest_load_.load(std::memory_order_relaxed)) * beta_ * max_coin_reach;
    if (static_cast<double>(remaining.count()) > reach) return false;
    // An early reload of this key failed recently (failure_ttl): serve the value until it
    // expires.
    if (negative_ && negative_->contains(key)) return false;
    const std::optional<std::chrono::nanoseconds> delta = load_times_->get(key);
    if (!delta) return false;  // never loaded here (a put), or its load time was evicted
    return xfetch_due(remaining, *delta, beta_, draw());
  }

  // u uniform in (0, 1] from a shared counter: lock-free, and reproducible from the seed.
  double draw() noexcept {
    const std::uint64_t n = draws_.fetch_add(1, std::memory_order_relaxed);
    const std::uint64_t bits = mix64(seed_ + (n + 1) * 0x9e3779b97f4a7c15ULL);
    return static_cast<double>((bits >> 11) + 1) * 0x1.0p-53;
  }

  // A due reader's reload of an entry that expires at seen_expiry, run as this key's flight.
  template <class Loader>
  flight_result reload_early(const Key& key, Loader& loader, std::chrono::nanoseconds seen_expiry) {
    std::optional<expiring_value<Value>> current = values_->get_with_expiry(key);
    // Expired, evicted or invalidated since: an ordinary miss.
    if (!current) return load(key, loader, load_kind::miss);
    // Rewritten since this reader looked (a flight that just finished, or a put).
    if (current->expires_at != seen_expiry) return std::move(current->value);
    flight_result loaded;
    try {
      loaded = load(key, loader, load_kind::early);
    } catch (...) {
      early_failures_.add();
      return std::move(current->value);  // still valid: keep serving it
    }
    early_refreshes_.add();
    return loaded;
  }

  cache_clock clock_;
  std::optional<std::chrono::nanoseconds> negative_ttl_;
  std::optional<std::chrono::nanoseconds> failure_ttl_;
  double beta_;
  std::uint64_t seed_;
  std::optional<cache_type> values_;
  std::optional<negative_cache> negative_;
  std::optional<load_time_cache> load_times_;
  lease_table leases_;
  single_flight<Key, flight_result> flights_;
  relaxed_counter hits_;
  relaxed_counter misses_;
  relaxed_counter negative_hits_;
  relaxed_counter loads_;
  relaxed_counter load_failures_;
  relaxed_counter discarded_;
  relaxed_counter early_refreshes_;
  relaxed_counter early_failures_;
  std::atomic<std::int64_t> load_time_{0};
  std::atomic<std::int64_t> longest_load_{0};
  std::atomic<std::uint64_t> draws_{0};
};

}  // namespace scaling
