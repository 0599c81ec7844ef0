// scaling/architecture/remote_cache.hpp: a shared cache tier (Redis, memcached, or a near
// cache in front of either) in the composition layer's cache role.
//
// What it is: `remote_cache<Key, Value, Tier, Codec>` makes any `scaling::remote_cache_tier`
// (string keys and values: redis::cache_tier, redis::cluster_client, memcached::pool,
// two_level_cache over any of them) a `read_cache<Key, Value>`, the role read_through uses for
// the app cache. So stage 2's read path (app cache -> replicas -> primary) runs unchanged with
// its cache on a server that every app server shares:
//   - get(key) is the tier's get of prefix + codec.key(key), decoded with the codec;
//   - put(key, value) is a set with the configured TTL (read_through calls it after a miss);
//   - erase(key) is the tier's delete (read_through::invalidate calls it after a write).
// The Codec turns keys and values into the tier's strings: `text_codec` (the default) writes
// std::string as it is and numbers in decimal.
//
// Failures, and what the composition sees (tier_errors):
//   - fall_back (default): a get that fails is a miss, so the read goes on to the replicas and
//     the primary (the cache is an optimisation, not a dependency); a put that fails is
//     dropped. Both are counted in stats().errors. With Redis down, reads cost one failed
//     call each (fast while the connection is in its reconnect backoff) plus the source read.
//   - propagate: get and put rethrow the tier's error (redis::error, memcached::error) out
//     of read_through::async_get, and the read is not answered.
//   - erase always rethrows, in both modes: an invalidation that did not reach the tier leaves
//     the old value there for every app server until its TTL. read_through::invalidate has
//     already fenced this process's loads when the error reaches the writer, which may retry;
//     the TTL bounds the staleness otherwise.
// A stored value the codec cannot read (another writer's format) is a miss, counted in
// stats().undecodable; the fill that follows overwrites it.
//
// When to pick it: to run read_through (or any composition taking a read_cache) on Redis or
// memcached; with two_level_cache as the Tier for hot keys a memory read away, kept coherent
// across app servers by Redis's invalidations. Not for the lab: its tier answers in real time.
// This header needs no engine library (scaling/architecture.hpp includes it); include the
// tier's own header too (redis/cache_tier.hpp needs hiredis, memcached/pool.hpp libmemcached).
//
//   scaling::redis::cache_tier redis{{.host = "10.0.0.5"},
//                                    {.invalidations = scaling::redis::tracking::on}};
//   scaling::two_level_cache near{redis, {.near_capacity = 10'000}};
//   scaling::architecture::remote_cache<std::uint64_t, std::uint64_t, decltype(near)> cache{
//       near, {.key_prefix = "v:", .ttl = std::chrono::minutes{10}}};
//   scaling::architecture::read_through<std::uint64_t, std::uint64_t, decltype(cache),
//                                       decltype(reads)>
//       path{cache, reads};
//
// Thread safety: as safe as the tier (redis::cache_tier, memcached::pool and two_level_cache
// may be called from any thread); the adapter's own state is its counters.
// Complexity: one tier call per get, put or erase, plus the codec's work.
#pragma once

#include <charconv>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include "scaling/architecture/roles.hpp"
#include "scaling/caching/two_level_cache.hpp"
#include "scaling/core/error.hpp"
#include "scaling/core/stats.hpp"

namespace scaling::architecture {

// Turns keys and values into a tier's strings and back:
//   - key(k) -> std::string (the tier's key, before the prefix);
//   - encode(v) -> std::string;
//   - decode(text) -> std::optional<Value>, nullopt for text it cannot read.
template <class C, class Key, class Value>
concept cache_codec = requires(const C& c, const Key& key, const Value& value,
                               std::string_view text) {
  { c.key(key) } -> std::convertible_to<std::string>;
  { c.encode(value) } -> std::convertible_to<std::string>;
  { c.decode(text) } -> std::same_as<std::optional<Value>>;
};

// std::string as it is; integers and floating-point numbers in decimal (std::to_chars, so a
// value reads back exactly).
template <class Key, class Value>
struct text_codec {
  static_assert(std::is_same_v<Key, std::string> || std::is_arithmetic_v<Key>,
                "text_codec: keys are std::string or numbers; give remote_cache a codec");
  static_assert(std::is_same_v<Value, std::string> || std::is_arithmetic_v<Value>,
                "text_codec: values are std::string or numbers; give remote_cache a codec");

  [[nodiscard]] std::string key(const Key& k) const { return text(k); }
  [[nodiscard]] std::string encode(const Value& v) const { return text(v); }
  [[nodiscard]] std::optional<Value> decode(std::string_view s) const {
    if constexpr (std::is_same_v<Value, std::string>) {
      return std::string{s};
    } else {
      Value v{};
      const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
      return v;
    }
  }

 private:
  template <class T>
  static std::string text(const T& x) {
    if constexpr (std::is_same_v<T, std::string>) {
      return x;
    } else {
      char buffer[64];
      const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, x);
      return std::string(buffer, end);
    }
  }
};

// What a tier's failure does to a get or a put (an erase always rethrows).
enum class tier_errors : std::uint8_t {
  fall_back,  // a failed get is a miss, a failed put is dropped; both counted
  propagate,  // rethrown to the composition's caller
};

struct remote_cache_options {
  // Prepended to every key: the composition's namespace in a tier other code shares.
  std::string key_prefix;
  // Lifetime of each fill in the tier (zero: until deleted). A safety net for an invalidation
  // that never reached the tier. Must be >= 0.
  std::chrono::milliseconds ttl = std::chrono::minutes{10};
  tier_errors on_error = tier_errors::fall_back;
};

// A snapshot of a remote_cache's counters.
struct remote_cache_stats {
  std::uint64_t gets = 0;
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;       // not in the tier, unreadable, or the tier failed
  std::uint64_t puts = 0;         // fills that reached the tier
  std::uint64_t erases = 0;       // deletes that reached the tier
  std::uint64_t errors = 0;       // tier failures of any call (absorbed or rethrown)
  std::uint64_t undecodable = 0;  // stored values the codec could not read
  [[nodiscard]] double hit_ratio() const noexcept { return ratio(hits, gets); }
};

template <class Key, class Value, remote_cache_tier Tier,
          cache_codec<Key, Value> Codec = text_codec<Key, Value>>
class remote_cache {
 public:
  using key_type = Key;
  using value_type = Value;
  using tier_type = Tier;

  // Keeps a reference to `tier`, which must outlive this adapter.
  // Throws: scaling::invalid_argument if options.ttl is negative.
  explicit remote_cache(Tier& tier, remote_cache_options options = {}, Codec codec = Codec{})
      : tier_(&tier), options_(checked(std::move(options))), codec_(std::move(codec)) {}

  remote_cache(const remote_cache&) = delete;
  remote_cache& operator=(const remote_cache&) = delete;

  // The tier's value for `key`, or nullopt (absent, unreadable, or the tier failed under
  // fall_back).
  // Throws: the tier's error under tier_errors::propagate.
  [[nodiscard]] std::optional<Value> get(const Key& key) {
    gets_.add();
    std::optional<std::string> text;
    try {
      text = tier_->get(tier_key(key));
    } catch (const std::runtime_error&) {
      errors_.add();
      misses_.add();
      if (options_.on_error == tier_errors::propagate) throw;
      return std::nullopt;
    }
    if (!text) {
      misses_.add();
      return std::nullopt;
    }
    std::optional<Value> value = codec_.decode(*text);
    if (!value) {
      undecodable_.add();
      misses_.add();
      return std::nullopt;
    }
    hits_.add();
    return value;
  }

  // Stores `value` for `key` with the configured TTL.
  // Throws: the tier's error under tier_errors::propagate.
  void put(const Key& key, const Value& value) {
    try {
      tier_->set(tier_key(key), codec_.encode(value), options_.ttl);
      puts_.add();
    } catch (const std::runtime_error&) {
      errors_.add();
      if (options_.on_error == tier_errors::propagate) throw;
    }
  }

  // Deletes `key` from the tier. Returns whether the tier held it.
  // Throws: the tier's error, whatever on_error says (see the banner).
  bool erase(const Key& key) {
    try {
      const bool had = tier_->erase(tier_key(key));
      erases_.add();
      return had;
    } catch (const std::runtime_error&) {
      errors_.add();
      throw;
    }
  }

  [[nodiscard]] remote_cache_stats stats() const noexcept {
    return {gets_.load(),   hits_.load(),   misses_.load(),     puts_.load(),
            erases_.load(), errors_.load(), undecodable_.load()};
  }

  [[nodiscard]] Tier& tier() noexcept { return *tier_; }
  [[nodiscard]] const remote_cache_options& options() const noexcept { return options_; }

 private:
  static remote_cache_options checked(remote_cache_options o) {
    if (o.ttl.count() < 0)
      scaling::detail::throw_invalid_argument("scaling::architecture::remote_cache", "ttl",
                                              "must be >= 0 ms", o.ttl.count());
    return o;
  }
  [[nodiscard]] std::string tier_key(const Key& key) const {
    return options_.key_prefix + codec_.key(key);
  }

  Tier* tier_;
  remote_cache_options options_;
  [[no_unique_address]] Codec codec_;
  relaxed_counter gets_, hits_, misses_, puts_, erases_, errors_, undecodable_;
};

}  // namespace scaling::architecture
