// scaling/redis/stream_queue.hpp: the work_queue semantics (at-least-once delivery,
// visibility timeout, nack, delay, dead-lettering) on Redis Streams and a consumer group.
//
// What it is: `scaling::redis::stream_queue`, a `message_broker` whose messages live in Redis:
// publish is XADD, receive is XREADGROUP (with BLOCK for long polling) after XAUTOCLAIM has
// taken back the deliveries whose visibility timeout passed (a crashed consumer's), ack is
// XACK + XDEL. Redis has no dead-letter queue and no delivery limit: the delivery count comes
// from XPENDING, and a delivery past max_receives, or a nack with dead_letter, moves the
// message to a second stream. A nack with a delay moves it to a sorted set scored by its due
// time, from which receive promotes it back into the stream. The state changes that must not
// be half done (check a receipt, then ack/move) run as Lua scripts, atomically on the server.
//
// When to pick it: the jobs must survive the process and be shared by consumers on several
// machines, and Redis is already there. Pick scaling::work_queue inside one process; a
// dedicated broker (RabbitMQ, SQS, Kafka) when you need priorities, per-group FIFO or
// retention beyond memory.
//
//   scaling::redis::stream_queue jobs{{.port = 6379}, {.stream = "jobs", .max_receives = 5}};
//   auto id = jobs.publish("resize:42");                         // XADD
//   for (auto& d : jobs.receive("worker-1", 10)) {               // XAUTOCLAIM + XREADGROUP
//     if (process(d.body)) (void)jobs.ack(d.receipt);            // XACK + XDEL
//     else (void)jobs.nack(d.receipt, scaling::nack_action::requeue_after, 5s);
//   }
//
// Keys: `stream` itself, and `stream` + ":delayed" (sorted set), ":dead" (stream), ":stats"
// (hash of counters). On Redis Cluster give the stream a hash tag ("{jobs}") so the four
// keys share a slot (the scripts touch several at once).
// Differences from work_queue: ids are strings (the first stream entry id of the message;
// "d<n>" for a message published with a delay); priorities and groups are not supported
// (publish rejects them); a delivery whose visibility timeout passed can still be acked until
// another consumer has claimed it (Redis only moves it on XAUTOCLAIM); a requeued message
// (nack requeue) is redelivered first, ahead of new ones. `max_length` trims the stream with
// XADD MAXLEN ~, which can drop messages nobody received: leave it unset for work queues.
// Conservation: published == acked + dead + ready + in_flight + delayed, from Redis's own
// counts (XLEN, XPENDING, ZCARD) and the counters hash.
//
// Thread safety: every member may be called from any thread (the pool lends connections).
// Complexity: publish one round trip; receive two or three (plus one XPENDING per reclaimed
// delivery); ack and nack one (a script).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/uuid/detail/sha1.hpp>

#include <scaling/core/deadline.hpp>
#include <scaling/core/error.hpp>
#include <scaling/queueing/work_queue.hpp>
#include <scaling/redis/connection.hpp>

namespace scaling::redis {

struct stream_queue_options {
  // The stream's key; the other keys are derived from it.
  std::string stream = "jobs";
  // The consumer group (created with MKSTREAM if missing, from the start of the stream).
  std::string group = "workers";
  // How long a delivery is invisible to other consumers. Must be >= 1 ms.
  std::chrono::milliseconds visibility_timeout{30'000};
  // Deliveries before a message is dead-lettered. Must be >= 1.
  std::uint32_t max_receives = 5;
  // XADD MAXLEN ~ n when set (lossy: see the banner). Must be >= 1 when set.
  std::optional<std::size_t> max_length{};
  // Longest single XREADGROUP BLOCK in receive_for: delayed messages and visibility timeouts
  // fall due without a publish, so a long poll re-checks them this often. >= 1 ms.
  std::chrono::milliseconds poll_slice{100};
  pool_options pool{};
};

// Proof of one delivery: the message id, which delivery of it this is (1 = first), and the
// stream entry and consumer it was delivered as.
struct stream_receipt {
  std::string id;
  std::uint32_t delivery_count = 0;
  std::string entry;
  std::string consumer;
  // How often this stream entry has been delivered in the group (its XPENDING count); less
  // than delivery_count when the message was requeued with a delay (a new entry).
  std::uint32_t entry_deliveries = 0;
  friend bool operator==(const stream_receipt&, const stream_receipt&) = default;
};

struct stream_delivery {
  std::string body;
  stream_receipt receipt;
};

struct stream_dead_letter {
  std::string id;
  std::string body;
  std::uint32_t receive_count = 0;
  dead_reason reason = dead_reason::max_receives;
};

// Counters and gauges read from Redis (so they cover every client of the queue).
struct stream_queue_stats {
  std::uint64_t published = 0;
  std::uint64_t acked = 0;
  std::uint64_t redelivered = 0;
  std::uint64_t dead_lettered = 0;
  std::size_t ready = 0;      // in the stream, not delivered (XLEN - in_flight)
  std::size_t in_flight = 0;  // delivered, not acked (XPENDING)
  std::size_t delayed = 0;    // waiting in the delay set (ZCARD)
  std::size_t dead = 0;       // in the dead-letter stream (XLEN)
};

class stream_queue {
 public:
  using message_type = std::string;
  using consumer_type = std::string;
  using id_type = std::string;
  using receipt_type = stream_receipt;
  using delivery_type = stream_delivery;
  using stats_type = stream_queue_stats;

  // Creates the consumer group if it does not exist (XGROUP CREATE ... 0 MKSTREAM).
  // Throws: scaling::invalid_argument for bad options; redis::error when the server cannot
  //   be reached or refuses.
  explicit stream_queue(endpoint server, stream_queue_options options = {})
      : options_(checked(std::move(options))),
        pool_(std::move(server), options_.pool),
        delayed_key_(options_.stream + ":delayed"),
        dead_key_(options_.stream + ":dead"),
        stats_key_(options_.stream + ":stats"),
        visibility_ms_(std::to_string(options_.visibility_timeout.count())) {
    const reply r =
        pool_.execute({"XGROUP", "CREATE", options_.stream, options_.group, "0", "MKSTREAM"});
    if (r.is_error() && r.error_code() != "BUSYGROUP") {
      (void)expect(r, reply::type::status, pool_.server(), "XGROUP CREATE");
    }
  }

  // Publishes a message; with options.delay > 0 it becomes visible after the delay.
  // Returns: its id, or nullopt once this handle is closed.
  // Throws: scaling::invalid_argument for a priority or group (not supported) or a negative
  //   delay; redis::error.
  [[nodiscard]] std::optional<std::string> publish(std::string body, publish_options options = {}) {
    if (options.priority != 0 || options.group) {
      detail::throw_invalid_argument("scaling::redis::stream_queue::publish", "options",
                                     "must not set priority or group (Redis Streams are FIFO)");
    }
    if (options.delay.count() < 0) {
      detail::throw_invalid_argument("scaling::redis::stream_queue::publish", "delay",
                                     "must be >= 0 ns", options.delay.count());
    }
    if (closed_.load()) return std::nullopt;
    const auto delay_ms = std::chrono::ceil<std::chrono::milliseconds>(options.delay);
    const std::string maxlen = options_.max_length ? std::to_string(*options_.max_length) : "";
    auto c = pool_.acquire();
    const reply r = run_script(*c, publish_script_, {options_.stream, stats_key_, delayed_key_},
                               {body, maxlen, std::to_string(delay_ms.count())});
    return expect_text(r, *c, "publish");
  }

  // Receives up to `max_messages` for `consumer` without blocking: first the deliveries whose
  // visibility timeout passed (redelivered; dead-lettered past max_receives), then new ones.
  // Throws: redis::error.
  [[nodiscard]] std::vector<stream_delivery> receive(const std::string& consumer,
                                                     std::size_t max_messages) {
    return take(consumer, max_messages, std::chrono::milliseconds{0});
  }

  // Long polling: waits until at least one message is delivered, the deadline passes, or the
  // stop token fires (checked between BLOCK slices of at most poll_slice).
  // Returns: ready with a batch, or timed_out / stopped / closed (closed: this handle is
  //   closed and nothing was deliverable).
  // Throws: redis::error.
  template <class Rep, class Period>
  [[nodiscard]] wait_result<std::vector<stream_delivery>> receive_for(
      const std::string& consumer, std::size_t max_messages,
      std::chrono::duration<Rep, Period> timeout, std::stop_token stop = {}) {
    return receive_until(consumer, max_messages,
                         deadline_after(std::chrono::steady_clock{}, timeout), std::move(stop));
  }
  [[nodiscard]] wait_result<std::vector<stream_delivery>> receive_until(
      const std::string& consumer, std::size_t max_messages,
      std::chrono::steady_clock::time_point deadline, std::stop_token stop = {}) {
    while (true) {
      const auto now = std::chrono::steady_clock::now();
      const bool closed = closed_.load();
      auto block = std::chrono::milliseconds{0};
      if (!closed && deadline > now) {
        block = std::min(options_.poll_slice,
                         std::chrono::ceil<std::chrono::milliseconds>(deadline - now));
      }
      auto got = take(consumer, max_messages, block);
      if (!got.empty() || max_messages == 0) {
        return wait_result<std::vector<stream_delivery>>{std::in_place, std::move(got)};
      }
      if (closed) return wait_result<std::vector<stream_delivery>>{wait_status::closed};
      if (stop.stop_requested()) {
        return wait_result<std::vector<stream_delivery>>{wait_status::stopped};
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        return wait_result<std::vector<stream_delivery>>{wait_status::timed_out};
      }
    }
  }

  // Acks a delivery (XACK + XDEL). Returns ok; stale when another consumer now holds it or it
  // was delivered again; unknown when it is not pending (acked, moved, never delivered).
  // Throws: redis::error.
  [[nodiscard]] receipt_status ack(const stream_receipt& r) {
    return settle(r, "ack", std::chrono::milliseconds{0});
  }

  // Gives a delivery back: requeue (delivered again at once, ahead of new messages),
  // requeue_after (after `delay`), or dead_letter. A requeue of a message that has used its
  // max_receives deliveries dead-letters it instead.
  // Throws: scaling::invalid_argument if delay < 0; redis::error.
  [[nodiscard]] receipt_status nack(const stream_receipt& r, nack_action action,
                                    std::chrono::nanoseconds delay = std::chrono::nanoseconds{0}) {
    if (delay.count() < 0) {
      detail::throw_invalid_argument("scaling::redis::stream_queue::nack", "delay",
                                     "must be >= 0 ns", delay.count());
    }
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(delay);
    switch (action) {
      case nack_action::requeue:
        return settle(r, "requeue", ms);
      case nack_action::requeue_after:
        return settle(r, ms.count() > 0 ? "delay" : "requeue", ms);
      case nack_action::dead_letter:
        return settle(r, "dead", ms);
    }
    return receipt_status::unknown;
  }

  // The dead letters, oldest first (at most `limit`).
  [[nodiscard]] std::vector<stream_dead_letter> dead_letters(std::size_t limit = 1000) {
    auto c = pool_.acquire();
    const reply r = c->execute({"XRANGE", dead_key_, "-", "+", "COUNT", std::to_string(limit)});
    (void)expect(r, reply::type::array, c->server(), "XRANGE");
    std::vector<stream_dead_letter> out;
    for (const auto& entry : r.elements()) {
      stream_dead_letter d;
      const auto& fields = entry.elements().at(1).elements();
      for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
        const std::string_view name = fields[i].str();
        if (name == "id") d.id = fields[i + 1].str();
        if (name == "body") d.body = fields[i + 1].str();
        if (name == "receives") d.receive_count = to_u32(fields[i + 1].str());
        if (name == "reason" && fields[i + 1].str() == "rejected") d.reason = dead_reason::rejected;
      }
      out.push_back(std::move(d));
    }
    return out;
  }

  // Stops publishes through this handle (they return nullopt); receives drain what is left
  // without blocking, then report closed. Other handles on the same stream are unaffected.
  void close() noexcept { closed_.store(true); }
  [[nodiscard]] bool closed() const noexcept { return closed_.load(); }

  // Counters and gauges from Redis, in one pipeline.
  [[nodiscard]] stream_queue_stats stats() {
    pipeline p;
    p.add({"HGETALL", stats_key_});
    p.add({"XLEN", options_.stream});
    p.add({"XPENDING", options_.stream, options_.group});
    p.add({"ZCARD", delayed_key_});
    p.add({"XLEN", dead_key_});
    auto c = pool_.acquire();
    const auto r = c->execute(p);
    stream_queue_stats s;
    const auto& fields = expect(r[0], reply::type::array, c->server(), "HGETALL").elements();
    for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
      const auto name = fields[i].str();
      const auto value = std::stoull(std::string{fields[i + 1].str()});
      if (name == "published") s.published = value;
      if (name == "acked") s.acked = value;
      if (name == "redelivered") s.redelivered = value;
      if (name == "dead") s.dead_lettered = value;
    }
    const auto length =
        static_cast<std::size_t>(expect(r[1], reply::type::integer, c->server(), "XLEN").integer());
    s.in_flight = static_cast<std::size_t>(
        expect(r[2], reply::type::array, c->server(), "XPENDING").elements().at(0).integer());
    s.ready = length - std::min(length, s.in_flight);
    s.delayed = static_cast<std::size_t>(
        expect(r[3], reply::type::integer, c->server(), "ZCARD").integer());
    s.dead =
        static_cast<std::size_t>(expect(r[4], reply::type::integer, c->server(), "XLEN").integer());
    return s;
  }

  [[nodiscard]] const stream_queue_options& options() const noexcept { return options_; }
  [[nodiscard]] pool& connections() noexcept { return pool_; }

 private:
  struct script {
    std::string_view text;
    std::string sha;
  };

  // KEYS: stream, stats, delayed. ARGV: body, maxlen ('' = none), delay ms.
  static constexpr std::string_view publish_lua = R"lua(
redis.call('HINCRBY', KEYS[2], 'published', 1)
if tonumber(ARGV[3]) > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local id = 'd' .. redis.call('HINCRBY', KEYS[2], 'delayed_ids', 1)
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), id .. '\n0\n' .. ARGV[1])
  return id
end
if ARGV[2] ~= '' then
  return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'body', ARGV[1])
end
return redis.call('XADD', KEYS[1], '*', 'body', ARGV[1])
)lua";

  // KEYS: delayed, stream. ARGV: most to move. Moves due delayed messages into the stream.
  static constexpr std::string_view promote_lua = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, m in ipairs(due) do
  redis.call('ZREM', KEYS[1], m)
  local a = string.find(m, '\n', 1, true)
  local b = string.find(m, '\n', a + 1, true)
  redis.call('XADD', KEYS[2], '*', 'id', string.sub(m, 1, a - 1), 'prior',
             string.sub(m, a + 1, b - 1), 'body', string.sub(m, b + 1))
end
return #due
)lua";

  // KEYS: stream, stats, delayed, dead. ARGV: group, entry, consumer, pel count, action
  // (ack|requeue|delay|dead|dead_max|expired), delay ms, max receives, prior receives, message id,
  // visibility ms. Returns 1 ok, 0 unknown, -1 stale.
  static constexpr std::string_view settle_lua = R"lua(
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 then return 0 end
if p[1][2] ~= ARGV[3] or tonumber(p[1][4]) ~= tonumber(ARGV[4]) then return -1 end
local action = ARGV[5]
local total = tonumber(ARGV[8]) + tonumber(ARGV[4])
if action == 'ack' then
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
  redis.call('XDEL', KEYS[1], ARGV[2])
  redis.call('HINCRBY', KEYS[2], 'acked', 1)
  return 1
end
if action == 'expired' then
  -- reclaimed after its last allowed delivery timed out: that delivery is the last counted
  total = total - 1
  action = 'dead_max'
end
if (action == 'requeue' or action == 'delay') and total >= tonumber(ARGV[7]) then
  action = 'dead_max'
end
if action == 'requeue' then
  redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, ARGV[2], 'IDLE', ARGV[10], 'JUSTID')
  return 1
end
local e = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
local body = ''
if #e > 0 then
  local f = e[1][2]
  for i = 1, #f, 2 do if f[i] == 'body' then body = f[i + 1] end end
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
if action == 'delay' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[6]), ARGV[9] .. '\n' .. total .. '\n' .. body)
  return 1
end
local reason = 'max_receives'
if action == 'dead' then reason = 'rejected' end
redis.call('XADD', KEYS[4], '*', 'id', ARGV[9], 'body', body, 'receives', total, 'reason', reason)
redis.call('HINCRBY', KEYS[2], 'dead', 1)
return 1
)lua";

  static stream_queue_options checked(stream_queue_options o) {
    constexpr std::string_view who = "scaling::redis::stream_queue";
    if (o.stream.empty()) detail::throw_invalid_argument(who, "stream", "must not be empty");
    if (o.group.empty()) detail::throw_invalid_argument(who, "group", "must not be empty");
    if (o.visibility_timeout.count() < 1) {
      detail::throw_invalid_argument(who, "visibility_timeout", "must be >= 1 ms",
                                     o.visibility_timeout.count());
    }
    if (o.max_receives == 0) {
      detail::throw_invalid_argument(who, "max_receives", "must be >= 1", o.max_receives);
    }
    if (o.max_length && *o.max_length == 0) {
      detail::throw_invalid_argument(who, "max_length", "must be >= 1 when set", 0);
    }
    if (o.poll_slice.count() < 1) {
      detail::throw_invalid_argument(who, "poll_slice", "must be >= 1 ms", o.poll_slice.count());
    }
    return o;
  }

  static std::string sha1_hex(std::string_view text) {
    boost::uuids::detail::sha1 h;
    h.process_bytes(text.data(), text.size());
    boost::uuids::detail::sha1::digest_type digest;
    h.get_digest(digest);
    char out[41];
    for (int i = 0; i < 5; ++i)
      std::snprintf(out + 8 * i, 9, "%08x", static_cast<unsigned>(digest[i]));
    return std::string(out, 40);
  }

  static std::uint32_t to_u32(std::string_view s) {
    std::uint32_t v = 0;
    for (const char ch : s) {
      if (ch < '0' || ch > '9') break;
      v = v * 10 + static_cast<std::uint32_t>(ch - '0');
    }
    return v;
  }

  // EVALSHA, falling back to EVAL when the server does not have the script (NOSCRIPT).
  static reply run_script(connection& c, const script& s, std::initializer_list<std::string> keys,
                          std::initializer_list<std::string> args) {
    std::vector<std::string_view> cmd;
    cmd.reserve(3 + keys.size() + args.size());
    cmd.emplace_back("EVALSHA");
    cmd.emplace_back(s.sha);
    const std::string nkeys = std::to_string(keys.size());
    cmd.emplace_back(nkeys);
    for (const auto& k : keys)
      cmd.emplace_back(k);
    for (const auto& a : args)
      cmd.emplace_back(a);
    reply r = c.execute_range(cmd);
    if (r.is_error() && r.error_code() == "NOSCRIPT") {
      cmd[0] = "EVAL";
      cmd[1] = s.text;
      r = c.execute_range(cmd);
    }
    return r;
  }

  static std::string expect_text(const reply& r, connection& c, std::string_view what) {
    if (r.is_error()) {
      throw error(error_kind::reply, c.server().to_string(), std::string{what},
                  std::string{r.str()});
    }
    if (r.kind() != reply::type::string && r.kind() != reply::type::status) {
      throw error(error_kind::wrong_type, c.server().to_string(), std::string{what},
                  "expected a string reply");
    }
    return std::string{r.str()};
  }

  // One entry of an XREADGROUP / XAUTOCLAIM reply: [entry-id, [field, value, ...]].
  static stream_delivery parse_entry(const reply& entry, const std::string& consumer) {
    stream_delivery d;
    d.receipt.entry = std::string{entry.elements().at(0).str()};
    d.receipt.consumer = consumer;
    std::uint32_t prior = 0;
    for (std::size_t i = 0; i + 1 < entry.elements().at(1).elements().size(); i += 2) {
      const auto& fields = entry.elements()[1].elements();
      const std::string_view name = fields[i].str();
      if (name == "body") d.body = fields[i + 1].str();
      if (name == "id") d.receipt.id = fields[i + 1].str();
      if (name == "prior") prior = to_u32(fields[i + 1].str());
    }
    if (d.receipt.id.empty()) d.receipt.id = d.receipt.entry;
    d.receipt.delivery_count = prior;  // the caller adds the entry's own deliveries
    return d;
  }

  receipt_status settle(const stream_receipt& r, std::string_view action,
                        std::chrono::milliseconds delay) {
    if (r.delivery_count == 0 || r.entry_deliveries == 0 || r.entry_deliveries > r.delivery_count) {
      return receipt_status::unknown;
    }
    auto c = pool_.acquire();
    return settle_on(*c, r, action, delay);
  }

  receipt_status settle_on(connection& c, const stream_receipt& r, std::string_view action,
                           std::chrono::milliseconds delay) {
    const reply out = run_script(
        c, settle_script_, {options_.stream, stats_key_, delayed_key_, dead_key_},
        {options_.group, r.entry, r.consumer, std::to_string(r.entry_deliveries),
         std::string{action}, std::to_string(delay.count()), std::to_string(options_.max_receives),
         std::to_string(r.delivery_count - r.entry_deliveries), r.id, visibility_ms_});
    const long long code = expect(out, reply::type::integer, c.server(), "settle").integer();
    if (code == 1) return receipt_status::ok;
    return code == 0 ? receipt_status::unknown : receipt_status::stale;
  }

  std::vector<stream_delivery> take(const std::string& consumer, std::size_t max_messages,
                                    std::chrono::milliseconds block) {
    std::vector<stream_delivery> out;
    if (max_messages == 0) return out;
    auto c = pool_.acquire();
    (void)run_script(*c, promote_script_, {delayed_key_, options_.stream}, {"100"});

    // Deliveries whose visibility timeout passed: claimed by this consumer, count bumped.
    const reply claimed =
        c->execute({"XAUTOCLAIM", options_.stream, options_.group, consumer, visibility_ms_, "0-0",
                    "COUNT", std::to_string(max_messages)});
    (void)expect(claimed, reply::type::array, c->server(), "XAUTOCLAIM");
    std::vector<stream_delivery> reclaimed;
    for (const auto& entry : claimed.elements().at(1).elements()) {
      if (entry.is_nil() || entry.elements().size() < 2) continue;
      reclaimed.push_back(parse_entry(entry, consumer));
    }
    if (!reclaimed.empty()) {
      pipeline counts;
      for (const auto& d : reclaimed)
        counts.add(
            {"XPENDING", options_.stream, options_.group, d.receipt.entry, d.receipt.entry, "1"});
      counts.add({"HINCRBY", stats_key_, "redelivered", std::to_string(reclaimed.size())});
      const auto replies = c->execute(counts);
      for (std::size_t i = 0; i < reclaimed.size(); ++i) {
        const auto& rows = replies[i].elements();
        if (rows.empty()) continue;  // acked meanwhile
        auto& d = reclaimed[i];
        const auto pel = static_cast<std::uint32_t>(rows[0].elements().at(3).integer());
        const std::uint32_t prior = d.receipt.delivery_count;
        d.receipt.delivery_count = prior + pel;
        if (d.receipt.delivery_count > options_.max_receives) {
          // Delivered max_receives times already: to the dead-letter stream, not to the caller.
          d.receipt.entry_deliveries = pel;
          (void)settle_on(*c, d.receipt, "expired", std::chrono::milliseconds{0});
          continue;
        }
        d.receipt.entry_deliveries = pel;
        out.push_back(std::move(d));
      }
    }
    if (out.size() >= max_messages) return out;

    pipeline read;
    const std::string count = std::to_string(max_messages - out.size());
    const bool blocking = out.empty() && block.count() > 0;
    const std::string block_ms = std::to_string(block.count());
    if (blocking) {
      read.add({"XREADGROUP", "GROUP", options_.group, consumer, "COUNT", count, "BLOCK", block_ms,
                "STREAMS", options_.stream, ">"});
    } else {
      read.add({"XREADGROUP", "GROUP", options_.group, consumer, "COUNT", count, "STREAMS",
                options_.stream, ">"});
    }
    const auto timeout =
        c->options().command_timeout + (blocking ? block : std::chrono::milliseconds{0});
    const auto fresh = c->execute(read, timeout);
    if (fresh[0].is_nil()) return out;
    (void)expect(fresh[0], reply::type::array, c->server(), "XREADGROUP");
    for (const auto& stream : fresh[0].elements()) {
      for (const auto& entry : stream.elements().at(1).elements()) {
        auto d = parse_entry(entry, consumer);
        d.receipt.entry_deliveries = 1;
        d.receipt.delivery_count += 1;
        out.push_back(std::move(d));
      }
    }
    return out;
  }

  stream_queue_options options_;
  pool pool_;
  std::string delayed_key_;
  std::string dead_key_;
  std::string stats_key_;
  std::string visibility_ms_;
  script publish_script_{publish_lua, sha1_hex(publish_lua)};
  script promote_script_{promote_lua, sha1_hex(promote_lua)};
  script settle_script_{settle_lua, sha1_hex(settle_lua)};
  std::atomic<bool> closed_{false};
};

}  // namespace scaling::redis
