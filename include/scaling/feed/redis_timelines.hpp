// scaling/feed/redis_timelines.hpp: a feed_service timeline store that keeps each materialised
// timeline as a Redis list, as Twitter did.
//
// What it is: `scaling::redis_timelines`, a timeline_store for scaling::feed_service. Each
// materialised timeline is one Redis list of 24-byte entries (time, post id, author), newest at
// the head. Fan-out appends with LPUSHX (only refresh a timeline that is present, Twitter's
// RPUSHX rule: a list Redis lost or expired is not recreated by a write, the next read rebuilds
// it) and drops the oldest entry past timeline_length with RPOP (LTRIM's effect, one entry at a
// time, returning the entry dropped: it becomes the timeline's horizon, where it stops being
// complete). The writes of one fan-out batch (Twitter: 4,000 destinations) go out as one
// pipeline: one round trip. A read is LRANGE key 0 limit-1. What the service decides with
// (followed authors pushed, view rates, each timeline's size, newest entry and horizon) stays
// in process; the entries live in Redis.
//
// When to pick it: timelines that must outlive the process or be shared by several readers'
// processes, or to measure Redis's cost per timeline entry (examples/cases/twitter_timeline
// --timelines=redis). Keep the default in_process_timelines to serve from memory in one
// process: it is about a round trip faster per read. This header needs hiredis (it includes
// scaling/redis/connection.hpp); scaling/feed.hpp leaves it out.
//
//   scaling::feed_service<scaling::fan_out_on_write, std::chrono::steady_clock,
//                         scaling::redis_timelines>
//       feed{{.timeline_length = 800}, {.server = {"127.0.0.1", 6379}, .key_prefix = "tl:"}};
//   (void)feed.follow(1, 2);
//   (void)feed.post(2, 100, 1'700'000'000'000);
//   auto newest = feed.timeline(1, 50);   // LRANGE tl:1:<n> 0 49
//
// Keys: "<key_prefix><user>:<incarnation>", a new incarnation each time the service
// materialises the user's timeline, so that a timeline evicted from the service (memory bound,
// inactive_after) and rebuilt later never shares a list with its older self; the evicted one's
// list expires after `released_ttl` (reads already in flight on it still find it). One service
// per key prefix: two services writing the same prefix would mix their incarnations.
// Out-of-order writes (a post whose time is older than the timeline's newest entry, an author
// turning push, an unfollow) read the list, change it in process and write it back (DEL +
// RPUSH): rare on a timeline, one round trip each.
//
// Failures: a connection, timeout or error reply (OOM under maxmemory, WRONGTYPE) throws
// scaling::redis::error naming the server and the command, within the connection's timeouts.
// The timelines whose writes did not apply are marked lost (rebuilt by their next read, once
// Redis answers again). timeline() then throws; a fan-out batch that fails is dropped and
// counted in feed_service_stats::fan_out_errors (run_fan_out() rethrows the error); follow() and
// unfollow() record the edge, then throw.
//
// Thread safety: the service calls it from any thread; one mutex serialises the store's
// pipeline and its one connection (so commands reach Redis in the order the service decided
// them). Complexity: a fan-out write O(1) and a pipelined command; a read one round trip for
// LRANGE; an out-of-order write O(timeline_length) and a round trip.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <scaling/core/error.hpp>
#include <scaling/feed/feed_service.hpp>
#include <scaling/redis/connection.hpp>

namespace scaling {

struct redis_timelines_options {
  redis::endpoint server{};
  redis::connection_options connection{};
  // Keys are "<key_prefix><user>:<incarnation>". Must not be empty.
  std::string key_prefix = "timeline:";
  // How long the list of a timeline the service evicted stays in Redis. Must be > 0.
  std::chrono::milliseconds released_ttl{10'000};
};

class redis_timelines {
  struct record {
    std::string key;
    std::size_t size = 0;               // entries in the list (as of the pipeline's replies)
    std::optional<feed_entry> newest;   // at least as new as the list's head
    std::optional<feed_entry> horizon;  // as ring_timeline's
    bool lost = false;                  // the list is gone or unknown: rebuild before reading
    bool released = false;
  };

 public:
  using options_type = redis_timelines_options;
  // One timeline's handle: its key and what the service knows of the list.
  class timeline {
    friend class redis_timelines;
    std::shared_ptr<record> record_;
  };

  // Validates the options; connects on first use.
  // Throws: scaling::invalid_argument for an empty key_prefix, a released_ttl <= 0, or bad
  //   connection options.
  redis_timelines(options_type options, const feed_options& /*feed*/)
      : options_(checked(std::move(options))), connection_(options_.server, options_.connection) {}

  redis_timelines(const redis_timelines&) = delete;
  redis_timelines& operator=(const redis_timelines&) = delete;

  // The service's memory bound counts a timeline at its full length of 24-byte entries plus
  // 256 bytes, as for in-process timelines: set Redis's maxmemory for what Redis adds per
  // entry (measured in benchmarks/feed/README.md).
  [[nodiscard]] static std::size_t weight(const feed_options& o) noexcept {
    return o.timeline_length * sizeof(feed_entry) + 256;
  }

  bool write(feed_user_id user, timeline& t, const feed_entry& e, std::size_t max) {
    std::scoped_lock lock{mutex_};
    const auto& p = ensure(user, t);
    record& r = *p;
    if (r.lost || r.released) return false;
    if (r.horizon && !older(*r.horizon, e)) return false;
    if (r.size != 0 && !older(*r.newest, e)) {
      return modify(p, [&](detail::ring_timeline& ring) { return ring.write(e, max) ? 1U : 0U; }) !=
             0;
    }
    const std::string bytes = encode(e);
    // An empty list does not exist in Redis: the first entry creates it.
    queue(p, r.size == 0 ? "LPUSH" : "LPUSHX", op::push, {r.key, bytes});
    if (r.size == max) {
      queue(p, "RPOP", op::pop, {r.key});
    } else {
      ++r.size;
      entries_.fetch_add(1, std::memory_order_relaxed);
    }
    r.newest = e;
    return true;
  }

  std::size_t backfill(feed_user_id user, timeline& t, std::span<const feed_entry> posts,
                       std::size_t max) {
    std::scoped_lock lock{mutex_};
    const auto& p = ensure(user, t);
    record& r = *p;
    if (r.lost || r.released || posts.empty()) return 0;
    return modify(p, [&](detail::ring_timeline& ring) { return ring.backfill(posts, max); });
  }

  void erase_post(feed_user_id user, timeline& t, const feed_entry& e) {
    std::scoped_lock lock{mutex_};
    const auto& p = ensure(user, t);
    record& r = *p;
    if (r.lost || r.released || r.size == 0) return;
    queue(p, "LREM", op::erase, {r.key, "1", encode(e)});
  }

  void erase_author(feed_user_id user, timeline& t, feed_user_id author) {
    std::scoped_lock lock{mutex_};
    const auto& p = ensure(user, t);
    record& r = *p;
    if (r.lost || r.released || r.size == 0) return;
    (void)modify(p, [&](detail::ring_timeline& ring) {
      return ring.entries.erase_if([author](const feed_entry& x) { return x.author == author; });
    });
  }

  void assign(feed_user_id user, timeline& t, std::vector<feed_entry>&& ascending,
              std::optional<feed_entry> horizon) {
    std::scoped_lock lock{mutex_};
    const auto& p = ensure(user, t);
    record& r = *p;
    if (r.released) return;
    replace(p, ascending);
    r.horizon = horizon;
  }

  [[nodiscard]] bool needs_rebuild(feed_user_id user, timeline& t, std::size_t limit) {
    std::scoped_lock lock{mutex_};
    flush_locked();
    const record& r = *ensure(user, t);
    return r.lost || (r.horizon && r.size < limit);
  }

  // nullopt: the list is not what the service wrote (Redis dropped it): rebuild, read again.
  [[nodiscard]] std::optional<std::vector<feed_entry>> read(feed_user_id user, timeline& t,
                                                            std::size_t limit) {
    std::scoped_lock lock{mutex_};
    const auto& p = ensure(user, t);
    record& r = *p;
    const std::string stop = std::to_string(limit - 1);
    queue(p, "LRANGE", op::read, {r.key, "0", stop});
    std::vector<redis::reply> replies = flush_locked();
    std::vector<feed_entry> got = decode(replies.back(), r.key);
    if (r.lost || got.size() != std::min(limit, r.size)) {
      lose(r);
      return std::nullopt;
    }
    return got;
  }

  void release(feed_user_id /*user*/, timeline& t) {
    std::scoped_lock lock{mutex_};
    if (!t.record_ || t.record_->released) return;
    const auto& p = t.record_;
    record& r = *p;
    r.released = true;
    entries_.fetch_sub(static_cast<std::int64_t>(r.size), std::memory_order_relaxed);
    r.size = 0;
    queue(p, "PEXPIRE", op::other, {r.key, std::to_string(options_.released_ttl.count())});
  }

  // Sends what write/erase/release queued as one pipeline and applies the replies.
  // Throws: redis::error; the timelines whose commands were queued are marked lost.
  void flush() {
    std::scoped_lock lock{mutex_};
    (void)flush_locked();
  }

  [[nodiscard]] std::size_t stored_entries() const noexcept {
    return static_cast<std::size_t>(std::max<std::int64_t>(0, entries_.load()));
  }
  // Entries x 24 B: the payload. What Redis spends per entry (list encoding, keys) is
  // Redis's to report: INFO memory, MEMORY USAGE key.
  [[nodiscard]] std::size_t stored_bytes() const noexcept {
    return stored_entries() * sizeof(feed_entry);
  }
  [[nodiscard]] const options_type& options() const noexcept { return options_; }

 private:
  enum class op : std::uint8_t { push, pop, erase, read, other };
  struct pending {
    std::shared_ptr<record> target;
    op kind;
  };

  static options_type checked(options_type o) {
    constexpr std::string_view who = "scaling::redis_timelines";
    if (o.key_prefix.empty())
      detail::throw_invalid_argument(who, "key_prefix", "must not be empty", o.key_prefix);
    if (o.released_ttl.count() <= 0) {
      detail::throw_invalid_argument(who, "released_ttl", "must be > 0 ms", o.released_ttl.count());
    }
    return o;
  }

  const std::shared_ptr<record>& ensure(feed_user_id user, timeline& t) {
    if (!t.record_) {
      t.record_ = std::make_shared<record>();
      t.record_->key =
          options_.key_prefix + std::to_string(user) + ":" + std::to_string(++incarnations_);
    }
    return t.record_;
  }

  void queue(const std::shared_ptr<record>& r, std::string_view command, op kind,
             std::initializer_list<std::string_view> args) {
    std::vector<std::string_view> all;
    all.reserve(args.size() + 1);
    all.push_back(command);
    all.insert(all.end(), args.begin(), args.end());
    pipeline_.add_range(all);
    // The record outlives its timeline handle while a command for it is pending.
    pending_.push_back({r, kind});
  }

  static std::string encode(const feed_entry& e) {
    std::string out(sizeof(feed_entry), '\0');
    const std::uint64_t words[3] = {static_cast<std::uint64_t>(e.time), e.post, e.author};
    for (std::size_t w = 0; w < 3; ++w) {
      for (std::size_t b = 0; b < 8; ++b)
        out[w * 8 + b] = static_cast<char>((words[w] >> (8 * b)) & 0xff);
    }
    return out;
  }
  [[nodiscard]] feed_entry decode_one(std::string_view bytes, const std::string& key) const {
    if (bytes.size() != sizeof(feed_entry)) {
      throw redis::error(redis::error_kind::wrong_type, options_.server.to_string(), "LRANGE",
                         key + " holds an element of " + std::to_string(bytes.size()) +
                             " bytes, not a 24-byte timeline entry");
    }
    std::uint64_t words[3] = {0, 0, 0};
    for (std::size_t w = 0; w < 3; ++w) {
      for (std::size_t b = 0; b < 8; ++b) {
        words[w] |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[w * 8 + b]))
                    << (8 * b);
      }
    }
    return {static_cast<feed_time>(words[0]), words[1], words[2]};
  }
  // A list's elements, head (newest) first.
  [[nodiscard]] std::vector<feed_entry> decode(const redis::reply& list,
                                               const std::string& key) const {
    const redis::reply& got =
        redis::expect(list, redis::reply::type::array, options_.server, "LRANGE");
    std::vector<feed_entry> out;
    out.reserve(got.elements().size());
    for (const auto& el : got.elements())
      out.push_back(decode_one(el.str(), key));
    return out;
  }

  // Marks r lost: its list is gone or unknown until a rebuild replaces it.
  void lose(record& r) {
    if (!r.released) entries_.fetch_sub(static_cast<std::int64_t>(r.size));
    r.size = 0;
    r.lost = true;
    r.newest.reset();
    r.horizon.reset();
  }

  // Queues DEL + RPUSH of `ascending` (oldest first) as r's list.
  void replace(const std::shared_ptr<record>& p, const std::vector<feed_entry>& ascending) {
    record& r = *p;
    queue(p, "DEL", op::other, {r.key});
    if (!ascending.empty()) {
      std::vector<std::string> bytes;
      bytes.reserve(ascending.size());
      for (auto it = ascending.rbegin(); it != ascending.rend(); ++it)
        bytes.push_back(encode(*it));
      std::vector<std::string_view> args{"RPUSH", r.key};
      args.insert(args.end(), bytes.begin(), bytes.end());
      pipeline_.add_range(args);
      pending_.push_back({p, op::other});
    }
    entries_.fetch_add(static_cast<std::int64_t>(ascending.size()) -
                       static_cast<std::int64_t>(r.size));
    r.size = ascending.size();
    r.newest = ascending.empty() ? std::nullopt : std::optional{ascending.back()};
    r.lost = false;
  }

  // Reads r's list, applies f to it in process (as a ring_timeline), writes it back if its
  // entries changed. Returns what f returned.
  template <class F>
  std::size_t modify(const std::shared_ptr<record>& p, F f) {
    record& r = *p;
    std::vector<feed_entry> newest_first;
    try {
      queue(p, "LRANGE", op::read, {r.key, "0", "-1"});
      std::vector<redis::reply> replies = flush_locked();
      if (r.lost) return 0;  // its earlier writes failed: the next read rebuilds it
      newest_first = decode(replies.back(), r.key);
    } catch (...) {
      lose(r);
      throw;
    }
    if (newest_first.size() != r.size) {  // Redis dropped the list (maxmemory, expiry, restart)
      lose(r);
      return 0;
    }
    std::vector<feed_entry> ascending(newest_first.rbegin(), newest_first.rend());
    r.newest = ascending.empty() ? std::nullopt : std::optional{ascending.back()};
    detail::ring_timeline ring;
    ring.entries.assign(std::vector<feed_entry>(ascending));
    ring.horizon = r.horizon;
    const std::size_t result = static_cast<std::size_t>(f(ring));
    r.horizon = ring.horizon;
    std::vector<feed_entry> after;
    after.reserve(ring.entries.size());
    for (std::size_t i = 0; i < ring.entries.size(); ++i)
      after.push_back(ring.entries.at(i));
    if (after != ascending) {
      replace(p, after);
      try {
        (void)flush_locked();
      } catch (...) {
        lose(r);
        throw;
      }
    }
    return result;
  }

  // Sends the pipeline and applies its replies; returns them (the last is the caller's).
  std::vector<redis::reply> flush_locked() {
    if (pipeline_.empty()) return {};
    redis::pipeline batch = std::move(pipeline_);
    std::vector<pending> ops = std::move(pending_);
    pipeline_ = redis::pipeline{};
    pending_ = {};
    std::vector<redis::reply> replies;
    try {
      replies = connection_.execute(batch);
    } catch (...) {
      for (auto& p : ops)
        lose(*p.target);
      throw;
    }
    std::optional<redis::error> failed;
    for (std::size_t i = 0; i < ops.size(); ++i) {
      record& r = *ops[i].target;
      const redis::reply& got = replies[i];
      if (got.is_error()) {
        lose(r);
        if (!failed) {
          failed.emplace(redis::error_kind::reply, options_.server.to_string(), batch.name(i),
                         std::string{got.str()});
        }
        continue;
      }
      switch (ops[i].kind) {
        case op::push:
          // LPUSHX answers 0 when the list is gone (expired, evicted by maxmemory, a restart).
          if (got.is_integer() && got.integer() == 0) lose(r);
          break;
        case op::pop:
          if (got.is_string() && !r.lost) {
            const feed_entry dropped = decode_one(got.str(), r.key);
            if (!r.horizon || older(*r.horizon, dropped)) r.horizon = dropped;
          } else if (!got.is_string()) {
            lose(r);
          }
          break;
        case op::erase:
          if (got.is_integer() && got.integer() > 0 && !r.lost && !r.released) {
            const auto n = std::min<std::size_t>(r.size, static_cast<std::size_t>(got.integer()));
            r.size -= n;
            entries_.fetch_sub(static_cast<std::int64_t>(n));
          }
          break;
        case op::read:
        case op::other:
          break;
      }
    }
    if (failed) throw *failed;
    return replies;
  }

  options_type options_;
  std::mutex mutex_;
  redis::connection connection_;
  redis::pipeline pipeline_;
  std::vector<pending> pending_;
  std::uint64_t incarnations_ = 0;
  std::atomic<std::int64_t> entries_{0};
};

}  // namespace scaling
