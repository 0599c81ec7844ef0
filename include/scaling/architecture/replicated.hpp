// scaling/architecture/replicated.hpp: a replicated database as the source of truth of a
// composition: reads routed over the replicas, writes at the primary.
//
// What it is: two thin adapters over `scaling::replicated_store` (or any store with the same
// members) and a `serving` policy with one server per member.
//   - `store_reads` models async_read_source: the store's own router picks the member (read
//     mode, staleness, and the min_position a read-your-writes caller passes), and the read
//     spends its service time on that member's server; a member that is down, or a read that
//     nobody may serve, answers `failed`.
//   - `primary_writes` models async_write_target: the write spends its service time on the
//     primary's server and commits when that ends; the ack carries the commit position.
// The data is read when the member starts the read (a snapshot at that instant) and the
// replicas apply writes after their configured lag on the store's clock, which in the lab is
// the simulation's: replication lag, stale reads and failover all happen in virtual time.
//
// When to pick it: behind a read_through (stage 2), inside a partitioned store (stage 4), or
// on its own to measure how many replicas a read load needs.
//
//   scaling::architecture::station_serving db{sim, "db", store.nodes(),
//   scaling::lab::distribution::exponential(2ms)}; scaling::architecture::store_reads reads{store,
//   db}; scaling::architecture::primary_writes writes{store, db};
//
// Thread safety: as the store and the serving policy (in the lab: one thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

#include "scaling/architecture/roles.hpp"
#include "scaling/core/error.hpp"
#include "scaling/replication/consistency.hpp"
#include "scaling/replication/replicated_store.hpp"

namespace scaling::architecture {

// Tier numbers reported in reply::tier by these adapters.
inline constexpr std::uint8_t replica_tier = 2;
inline constexpr std::uint8_t primary_tier = 3;

// A store whose members can be read by routing and written at a primary.
template <class S, class Key, class Value>
concept routed_store = requires(S& s, const Key& key, Value value, const read_options& opts) {
  { s.get(key, opts).status } -> std::convertible_to<select_status>;
  { s.get(key, opts).value } -> std::convertible_to<std::optional<Value>>;
  { s.get(key, opts).node } -> std::convertible_to<std::size_t>;
  { s.get(key, opts).from_primary } -> std::convertible_to<bool>;
  { s.put(key, std::move(value)).token.position } -> std::convertible_to<std::uint64_t>;
  { s.put(key, std::move(value)).accepted } -> std::convertible_to<bool>;
  { s.primary() } -> std::convertible_to<std::size_t>;
  { s.nodes() } -> std::convertible_to<std::size_t>;
};

namespace detail {
template <class Store, class Serving>
void check_servers(const char* who, Store& store, Serving& serving) {
  if (serving.servers() != store.nodes())
    scaling::detail::throw_invalid_argument(
        who, "serving.servers()", "must equal the store's members (nodes())", serving.servers());
}
}  // namespace detail

template <class Key, class Value, routed_store<Key, Value> Store, serving Serving>
class store_reads {
 public:
  // Throws: scaling::invalid_argument if serving has not one server per store member.
  store_reads(Store& store, Serving& serving, read_options base = {})
      : store_(&store), serving_(&serving), base_(base) {
    detail::check_servers("scaling::architecture::store_reads", store, serving);
  }

  void async_read(const Key& key, std::uint64_t min_position, read_handler<Value> done) {
    read_options opts = base_;
    if (min_position > opts.min_position) opts.min_position = min_position;
    auto r = store_->get(key, opts);
    if (r.status != select_status::ok) {
      done(reply<Value>{reply_status::failed, std::nullopt, 0});
      return;
    }
    const std::uint8_t tier = r.from_primary ? primary_tier : replica_tier;
    serving_->serve(
        r.node, work::read,
        [value = std::move(r.value), tier, done = std::move(done)](lab::outcome o) mutable {
          if (o != lab::outcome::served) {
            done(reply<Value>{reply_status::failed, std::nullopt, tier});
          } else if (value) {
            done(reply<Value>{reply_status::ok, std::move(value), tier});
          } else {
            done(reply<Value>{reply_status::not_found, std::nullopt, tier});
          }
        });
  }

  [[nodiscard]] Store& store() noexcept { return *store_; }

 private:
  Store* store_;
  Serving* serving_;
  read_options base_;
};

template <class Key, class Value, routed_store<Key, Value> Store, serving Serving>
class primary_writes {
 public:
  // Throws: scaling::invalid_argument if serving has not one server per store member.
  primary_writes(Store& store, Serving& serving) : store_(&store), serving_(&serving) {
    detail::check_servers("scaling::architecture::primary_writes", store, serving);
  }

  // The write queues at the primary's server and commits when its service ends.
  void async_write(const Key& key, Value value, write_handler done) {
    serving_->serve(
        store_->primary(), work::write,
        [this, key, value = std::move(value), done = std::move(done)](lab::outcome o) mutable {
          if (o != lab::outcome::served) {
            done(write_ack{reply_status::failed, 0});
            return;
          }
          const auto w = store_->put(key, std::move(value));
          done(write_ack{w.accepted ? reply_status::ok : reply_status::failed,
                         w.accepted ? w.token.position : 0});
        });
  }

  [[nodiscard]] Store& store() noexcept { return *store_; }

 private:
  Store* store_;
  Serving* serving_;
};

// A catalogue in which every key exists from the start: a source's "not found" reads as the
// key's initial value (a product page before its first edit, an object at version 0). The lab's
// objects are all there before the first write, so the caches in front fill on every miss, as
// they would in front of a loaded database, without the store holding a row per object.
template <class Key, class Value, async_read_source<Key, Value> Source>
class with_initial_value {
 public:
  with_initial_value(Source& source, Value initial)
      : source_(&source), initial_(std::move(initial)) {}

  void async_read(const Key& key, std::uint64_t min_position, read_handler<Value> done) {
    source_->async_read(key, min_position, [this, done = std::move(done)](reply<Value> r) mutable {
      if (r.status == reply_status::not_found) {
        r.status = reply_status::ok;
        r.value = initial_;
      }
      done(std::move(r));
    });
  }

  [[nodiscard]] Source& source() noexcept { return *source_; }

 private:
  Source* source_;
  Value initial_;
};

// Deduction from the blocks: store_reads reads{store, serving}.
template <class K, class V, class P, class C, class Serving>
store_reads(replicated_store<K, V, P, C>&, Serving&)
    -> store_reads<K, V, replicated_store<K, V, P, C>, Serving>;
template <class K, class V, class P, class C, class Serving>
store_reads(replicated_store<K, V, P, C>&, Serving&, read_options)
    -> store_reads<K, V, replicated_store<K, V, P, C>, Serving>;
template <class K, class V, class P, class C, class Serving>
primary_writes(replicated_store<K, V, P, C>&, Serving&)
    -> primary_writes<K, V, replicated_store<K, V, P, C>, Serving>;

}  // namespace scaling::architecture
