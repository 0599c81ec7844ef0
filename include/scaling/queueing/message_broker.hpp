// scaling/queueing/message_broker.hpp: the concept every at-least-once broker of the library
// models, so code (and one conformance suite) runs on any of them.
//
// What it is: `scaling::message_broker<B>`: publish a message, receive a batch for a consumer
// (at once, or waiting with receive_for), ack / nack each delivery through its receipt, close,
// and read stats with the same meanings as scaling::work_queue (see work_queue.hpp for the
// semantics). Ids, consumers and receipts may be each backend's own types; `broker_traits<B>`
// names them (from nested typedefs, or, for work_queue, from this header's specialisation).
// Models: scaling::work_queue<Message, Clock> (in process) and scaling::redis::stream_queue
// (Redis Streams, in scaling/redis/stream_queue.hpp).
//
// When to use it: to write a consumer loop or a test once and run it in process and on Redis.
//
//   template <scaling::message_broker B>
//   void drain(B& jobs, const scaling::broker_consumer_t<B>& me) {
//     for (auto& d : jobs.receive(me, 10)) (void)jobs.ack(d.receipt);
//   }
//
// Thread safety and complexity: as the model says.
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ranges>
#include <utility>

#include <scaling/core/deadline.hpp>
#include <scaling/queueing/work_queue.hpp>

namespace scaling {

// The types a broker works with: message_type, consumer_type, id_type, receipt_type.
template <class B>
struct broker_traits {
  using message_type = typename B::message_type;
  using consumer_type = typename B::consumer_type;
  using id_type = typename B::id_type;
  using receipt_type = typename B::receipt_type;
};

template <class Message, class Clock>
struct broker_traits<work_queue<Message, Clock>> {
  using message_type = Message;
  using consumer_type = consumer_id;
  using id_type = message_id;
  using receipt_type = receipt;
};

template <class B>
using broker_message_t = typename broker_traits<B>::message_type;
template <class B>
using broker_consumer_t = typename broker_traits<B>::consumer_type;
template <class B>
using broker_id_t = typename broker_traits<B>::id_type;
template <class B>
using broker_receipt_t = typename broker_traits<B>::receipt_type;

// An at-least-once broker with the work_queue semantics: publish returns the id (nullopt once
// closed or full); receive returns deliveries with .body and .receipt (.id, .delivery_count,
// 1 for a first delivery); ack and nack return a receipt_status (ok / stale / unknown); nack
// takes a nack_action and a delay; stats() has published, acked, redelivered, dead_lettered,
// ready, in_flight, delayed and dead, with published == acked + dead + ready + in_flight +
// delayed.
template <class B>
concept message_broker = requires(B& b, broker_message_t<B> m, const broker_consumer_t<B>& c,
                                  const broker_receipt_t<B>& r, std::chrono::milliseconds wait) {
  { b.publish(std::move(m)) } -> std::same_as<std::optional<broker_id_t<B>>>;
  { b.publish(std::move(m), publish_options{}) } -> std::same_as<std::optional<broker_id_t<B>>>;
  { b.receive(c, std::size_t{1}) } -> std::ranges::random_access_range;
  { b.receive(c, std::size_t{1}).front().body } -> std::convertible_to<broker_message_t<B>>;
  { b.receive(c, std::size_t{1}).front().receipt } -> std::convertible_to<broker_receipt_t<B>>;
  { r.id } -> std::convertible_to<broker_id_t<B>>;
  { r.delivery_count } -> std::convertible_to<std::uint32_t>;
  { b.receive_for(c, std::size_t{1}, wait).status() } -> std::same_as<wait_status>;
  { b.ack(r) } -> std::same_as<receipt_status>;
  { b.nack(r, nack_action::requeue, wait) } -> std::same_as<receipt_status>;
  b.close();
  { b.closed() } -> std::same_as<bool>;
  b.stats().published;
  b.stats().acked;
  b.stats().redelivered;
  b.stats().dead_lettered;
  b.stats().ready;
  b.stats().in_flight;
  b.stats().delayed;
  b.stats().dead;
};

static_assert(message_broker<work_queue<int>>);

}  // namespace scaling
