// store.hpp: the relay's message store as a policy: the records, and the concept a store models.
//
// What it is: a V2/V3 relay keeps every message it acknowledged to a sender in a store until
// the recipient acks it. `chat::message_store` is what the relay (chat::basic_relay<Store>)
// asks of that store; two stores model it:
//   - chat::log_store (log_store.hpp): an embedded append-only log with group-committed
//     fdatasync, on the relay's own disk. The default: nothing to run beside the relay.
//   - chat::redis_store (redis_store.hpp): a hash per recipient in a Redis server, written by
//     pipelined MULTI/EXEC batches (appendfsync and WAIT decide what "stored" survives).
//     Pick it when relays should keep no state on their own disks (a relay's users can move to
//     another machine that reads the same Redis) or when Redis is already operated with
//     replication and persistence.
//
//   chat::basic_relay<chat::log_store> r{{.mode = chat::relay_mode::v2_queues, ...,
//                                         .data_dir = "/var/lib/relay"}};
//
// The contract (what the relay relies on):
//   - open(): replays the store: every message stored and not erased, each recipient's in
//     the order they were appended, and every conversation's highest msg_id (dedup and the gap
//     check need it after a restart); then starts accepting appends.
//   - append(record, done): queues a `store` record (a message) or an `erase` record (its
//     delivered-ack). `done` runs once, on the store's own thread, with store_result::durable
//     when the record will survive what the store promises (a relay crash at least), or
//     store_result::failed when it may not (the relay then answers "retry", never "sent").
//     Records are applied in append order. Returns false after close() (nothing queued, `done`
//     never runs).
//   - close(): finishes what is queued, stops. Idempotent.
//   - stats(): store_stats; describe(): one line for the operator (where, what durability).
// Thread safety: append() and stats() from any thread; open() and close() from one controlling
// thread.
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "protocol.hpp"

namespace chat {

enum class record_kind : std::uint8_t { store = 'S', erase = 'D', high_water = 'H' };

// One store operation: a message kept for `to` (store), or its deletion (erase: no body).
struct store_record {
  record_kind kind = record_kind::store;
  std::uint64_t to = 0;
  std::uint64_t from = 0;
  std::uint64_t msg_id = 0;
  std::uint8_t lane = 0;
  std::uint64_t sent_ns = 0;
  std::string body;  // store only
};

// What a store found at open(): live messages in append order, per recipient, and each
// conversation's highest msg_id ever stored.
struct recovered_messages {
  std::vector<store_record> live;
  std::unordered_map<conversation_key, std::uint64_t, conversation_key_hash> high_water;
};

enum class store_result : std::uint8_t {
  durable,  // the record survives what the store promises: the sender may be told "sent"
  failed,   // it may not: the relay answers "retry" and the sender resends
};

using store_callback = std::function<void(store_result)>;

// Counters since open().
struct store_stats {
  std::uint64_t records = 0;   // appended
  std::uint64_t batches = 0;   // batches made durable (log: fdatasyncs; Redis: MULTI/EXECs)
  std::uint64_t bytes = 0;     // bytes written (log file; Redis request bytes)
  std::uint64_t failures = 0;  // records reported failed (disk error, Redis down or slow)
  // Deletions (delivered-acks) that failed and were queued again: the relay has dropped the
  // message, the store must too, or a restart would deliver it again.
  std::uint64_t deletes_retried = 0;
};

template <class Store>
concept message_store = std::constructible_from<Store, typename Store::options> &&
    std::default_initializable<typename Store::options> &&
    requires(Store& s, const Store& cs, const store_record& r, store_callback done) {
  { s.open() } -> std::same_as<recovered_messages>;
  { s.append(r, std::move(done)) } -> std::same_as<bool>;
  { s.close() } -> std::same_as<void>;
  { cs.stats() } -> std::same_as<store_stats>;
  { cs.describe() } -> std::convertible_to<std::string>;
};

}  // namespace chat
