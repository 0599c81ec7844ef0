// scaling/architecture/roles.hpp: the roles a block plays in a system, as concepts.
//
// What it is: the vocabulary the compositions in architecture/ are written in. A system is a
// few roles wired together: a cache tier consulted first (`read_cache`), a source of truth
// that answers reads now or later (`async_read_source`), a store that takes writes
// (`async_write_target`), and servers whose time a request spends (`serving`). The library's
// blocks play these roles unchanged or through thin adapters (replica_reads wraps a
// replica_selector and a replicated_store; scaling::cache is a read_cache as it is), and any
// type that models a concept can take a block's place: a Redis tier, a PostgreSQL adapter.
//
// Why asynchronous: the same composition runs in process, where a source answers inside the
// call, and in the scaling lab, where it answers when the simulated server finishes. So reads
// and writes complete through a handler, called exactly once; with `inline_serving` it is
// called before the call returns.
//
//   template <scaling::architecture::read_cache<std::uint64_t, profile> Cache,
//             scaling::architecture::async_read_source<std::uint64_t, profile> Source>
//   class read_through;                       // a wrong block fails here, naming the role
//
// Thread safety: the concepts say nothing about it; each composition states its own.
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <utility>

#include "scaling/lab/station.hpp"

namespace scaling::architecture {

// How a read or a write ended.
enum class reply_status : std::uint8_t {
  ok,         // the value is there (a read) or the write was accepted
  not_found,  // a read of a key the source does not hold
  failed,     // nobody could serve it: a server down, refused, or no member to route to
};

[[nodiscard]] constexpr std::string_view to_string(reply_status s) noexcept {
  switch (s) {
    case reply_status::ok:
      return "ok";
    case reply_status::not_found:
      return "not_found";
    case reply_status::failed:
      return "failed";
  }
  return "unknown";
}

// A read's answer: the value when status is ok.
template <class Value>
struct reply {
  reply_status status = reply_status::failed;
  std::optional<Value> value;
  // Who answered: the tier that held the value (see each composition), for the lab's figures.
  std::uint8_t tier = 0;
};

// A write's acknowledgement: accepted or not, and the position it committed at (0 when the
// store has no positions), which a reader passes on to read its own write.
struct write_ack {
  reply_status status = reply_status::failed;
  std::uint64_t position = 0;
};

template <class Value>
using read_handler = std::function<void(reply<Value>)>;
using write_handler = std::function<void(write_ack)>;

// A cache tier: looked up first, filled after a miss, emptied on a write.
//   - get(key) -> something convertible to std::optional<Value> (a hit or nothing);
//   - put(key, value) stores it (the tier may evict anything to make room);
//   - erase(key) removes it.
template <class C, class Key, class Value>
concept read_cache = requires(C& c, const Key& key, const Value& value) {
  { c.get(key) } -> std::convertible_to<std::optional<Value>>;
  c.put(key, value);
  c.erase(key);
};

// The source of truth behind the caches, answering now or later:
//   - async_read(key, min_position, done) calls done exactly once with the reply; a source
//     with positions serves only from a copy that applied min_position (0: any copy).
template <class S, class Key, class Value>
concept async_read_source = requires(S& s, const Key& key, std::uint64_t min_position,
                                     read_handler<Value> done) {
  s.async_read(key, min_position, std::move(done));
};

// Where writes go: async_write(key, value, done) calls done exactly once with the ack.
template <class S, class Key, class Value>
concept async_write_target = requires(S& s, const Key& key, Value value, write_handler done) {
  s.async_write(key, std::move(value), std::move(done));
};

// The kind of work a request brings to a server (a write usually costs more than a read).
enum class work : std::uint8_t { read, write };

// The time a request spends at server `i`: serve(i, kind, k) calls k exactly once, with
// lab::outcome::served when the work was done, or refused / lost when the server could not.
template <class S>
concept serving = requires(S& s, std::size_t server, work kind,
                           std::function<void(lab::outcome)> k) {
  s.serve(server, kind, std::move(k));
  { s.servers() } -> std::convertible_to<std::size_t>;
};

}  // namespace scaling::architecture
