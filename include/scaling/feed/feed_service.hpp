// scaling/feed/feed_service.hpp: home timelines over a follow graph, with the fan-out choice
// as a policy.
//
// What it is: `scaling::feed_service<Policy, Clock>`, the service behind a home feed (Twitter's
// home timeline, an activity feed, a notification inbox): users follow users, authors post,
// and timeline(user, limit) returns the newest posts of the user's followees, newest first
// (time descending, then post id descending). The policy says when a post reaches a follower:
//   - fan_out_on_read (Twitter V1): nothing is precomputed; a read merges the recent posts of
//     every followee with a heap (k-way merge). Cheap posts, expensive reads.
//   - fan_out_on_write (V2): a post is written into every follower's materialised timeline
//     (capped, Twitter: 800 entries) by fan-out workers that take batches of destinations
//     (Twitter: 4,000) from a scaling::work_queue. Cheap reads, a celebrity's post costs a
//     write per follower.
//   - hybrid_fan_out (V3): as V2, except that authors with at least `celebrity_threshold`
//     followers are not fanned out; their posts are merged in at read time.
//   - per_pair_fan_out (Feeding Frenzy, Silberstein et al., SIGMOD 2010): each (author,
//     follower) pair is push or pull: push when the follower's view rate times the cost ratio
//     (pull cost / push cost) is at least `push_threshold` times the author's post rate. Rates
//     are exponentially decayed counters on the service's clock.
// Materialised timelines are indexed by a scaling::cache bounded by memory (LRU); fan-out only
// refreshes timelines that are present (Twitter's RPUSHX), so inactive users cost nothing, and
// a read that finds no timeline rebuilds it from the authors' posts. Fan-out does not look each
// destination up in the cache: follower lists hold directory indexes, and a user's directory
// entry is a handle to the place (in a slab, reused after evictions) of its timeline; a handle
// whose place was evicted (its owner changed) or may have expired sends fan-out to the cache. Their
// entries live in the service's timeline store (the Store parameter, a timeline_store): in process
// by default (in_process_timelines), or as Redis lists (redis_timelines,
// scaling/feed/redis_timelines.hpp).
//
// When to pick it: to serve feeds in process, or to measure the fan-out trade-off on your own
// graph and read/write mix (examples/cases/twitter_timeline). Pick redis_timelines as the
// store when timelines must outlive the process.
//
//   scaling::feed_service<scaling::hybrid_fan_out> feed{{.celebrity_threshold = 10'000}};
//   (void)feed.follow(/*follower=*/1, /*followee=*/2);
//   (void)feed.post(/*author=*/2, /*post=*/100, /*time=*/1'700'000'000'000);
//   (void)feed.wait_fan_out_for(std::chrono::seconds{1});
//   for (const scaling::feed_entry& e : feed.timeline(1, 50)) show(e.post);
//
// Guarantees: once fan-out has drained (pending_writes == 0), every policy returns the same
// timeline for the same history, unfollows and removals included: the newest
// min(limit, timeline_length) live posts of the user's current followees. Before that, a
// pushed post may be missing or a removed one still shown (the fan-out lag, in stats()).
// Bad input: a self-follow throws scaling::invalid_argument; follow/unfollow of an existing /
// missing edge, a duplicate post id (ids are never reused, not even after remove) and
// remove of an unknown post, or of another author's post, return false and change nothing;
// an unknown user has an empty timeline; limit 0 returns an empty timeline; limit above
// timeline_length returns at most timeline_length posts (every policy); a time older than
// the author's previous post is accepted and the post takes its place by time.
//
// Thread safety: every member may be called from any thread (a reader/writer lock over the
// graph and the posts, one mutex per materialised timeline, the cache's and queue's own
// locks; the type is mutex-locked). timeline() returns a copy.
// Complexity: post O(followers) to enqueue (plus the fan-out, O(1) amortised per destination);
// follow / unfollow O(timeline_length) on a materialised timeline; timeline() from a
// materialised timeline O(limit + pulled followees x log), a rebuild or a fan_out_on_read
// merge O(followees + limit log followees); remove O(author's posts) plus its fan-out.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <concepts>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <stdexcept>
#include <stop_token>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/unordered/unordered_flat_map.hpp>
#include <boost/unordered/unordered_flat_set.hpp>

#include <scaling/caching/cache.hpp>
#include <scaling/core/clock.hpp>
#include <scaling/core/config.hpp>
#include <scaling/core/deadline.hpp>
#include <scaling/core/error.hpp>
#include <scaling/core/stats.hpp>
#include <scaling/queueing/work_queue.hpp>

namespace scaling {

using feed_user_id = std::uint64_t;
using feed_post_id = std::uint64_t;
// A post's time in the caller's units (Twitter: milliseconds since the epoch). Only its order
// matters to the feed.
using feed_time = std::int64_t;

// One timeline entry: 24 bytes (Twitter's Redis entry was 20: tweet id, user id, flags).
struct feed_entry {
  feed_time time = 0;
  feed_post_id post = 0;
  feed_user_id author = 0;
  friend bool operator==(const feed_entry&, const feed_entry&) = default;
};
static_assert(sizeof(feed_entry) == 24, "a timeline entry is three 64-bit words, no padding");

// Timeline order: older first (the stored order); a timeline reads it backwards.
[[nodiscard]] constexpr bool older(const feed_entry& a, const feed_entry& b) noexcept {
  return a.time != b.time ? a.time < b.time : a.post < b.post;
}

enum class fan_out_kind : std::uint8_t { on_read, on_write, hybrid, per_pair };

// The policies (tags). See the banner for what each does.
struct fan_out_on_read {
  static constexpr fan_out_kind kind = fan_out_kind::on_read;
};
struct fan_out_on_write {
  static constexpr fan_out_kind kind = fan_out_kind::on_write;
};
struct hybrid_fan_out {
  static constexpr fan_out_kind kind = fan_out_kind::hybrid;
};
struct per_pair_fan_out {
  static constexpr fan_out_kind kind = fan_out_kind::per_pair;
};

template <class P>
concept fan_out_policy = requires {
  { P::kind } -> std::convertible_to<fan_out_kind>;
};

struct feed_options {
  // Entries kept per materialised timeline, and the most a read returns (Twitter: 800).
  std::size_t timeline_length = 800;
  // Destinations per fan-out message (Twitter pipelined 4,000 at a time).
  std::size_t fan_out_batch = 4000;
  // Threads the service runs to apply fan-out; 0: the caller runs it with run_fan_out().
  std::size_t fan_out_workers = 1;
  // Memory bound of the materialised timelines, in bytes. Each timeline is weighed at its full
  // length (timeline_length x 24 B, plus 256 B), so the bound holds however full they get.
  std::size_t timeline_memory = std::size_t{1} << 30;
  // Drop a timeline nobody read for this long (Twitter kept users active in the last 30 days).
  std::optional<std::chrono::nanoseconds> inactive_after{};
  // hybrid_fan_out: authors with at least this many followers are pulled at read time.
  std::size_t celebrity_threshold = 10'000;
  // per_pair_fan_out: pull cost per view / push cost per post (Feeding Frenzy's L / H).
  double cost_ratio = 1.0;
  // per_pair_fan_out: push when view_rate x cost_ratio >= push_threshold x post_rate.
  double push_threshold = 1.0;
  // per_pair_fan_out: a pair changes mode only when the rule holds by this margin (a pulled
  // pair turns push when view_rate x cost_ratio >= (1 + margin) x push_threshold x post_rate,
  // a pushed one turns pull below (1 - margin) x that), so noisy rates do not make it flap
  // (each turn to push copies the author's posts in). In [0, 1).
  double switch_margin = 0.5;
  // per_pair_fan_out: half-life of the decayed view and post counters.
  std::chrono::nanoseconds rate_half_life = std::chrono::hours{1};
};

// A snapshot of a feed service's counters and gauges.
struct feed_service_stats {
  std::uint64_t posts = 0;               // accepted by post()
  std::uint64_t duplicate_posts = 0;     // refused by post(): the id was used before
  std::uint64_t removals = 0;            // accepted by remove()
  std::uint64_t reads = 0;               // timeline() calls with limit > 0
  std::uint64_t timeline_writes = 0;     // entries written into materialised timelines
  std::uint64_t fan_out_deliveries = 0;  // destinations the fan-out visited
  std::uint64_t fan_out_pulled = 0;      // ... that per_pair_fan_out left to pull (no write)
  std::uint64_t backfill_writes = 0;     // entries written when a pair turned push (in writes)
  std::uint64_t fan_out_skipped = 0;     // ... that had no materialised timeline (RPUSHX)
  std::uint64_t rebuilds = 0;            // timelines built or rebuilt by a read
  std::uint64_t read_work = 0;           // entries scanned and merged by reads, rebuilds included
  std::uint64_t mode_switches = 0;       // (author, follower) pairs that went push <-> pull
  std::uint64_t fan_out_errors = 0;      // batches dropped because the store failed (Redis down)
  std::size_t materialised_timelines = 0;
  std::size_t stored_entries = 0;                  // entries held in materialised timelines
  std::size_t stored_bytes = 0;                    // bytes allocated for them (24 B per slot)
  std::size_t pending_writes = 0;                  // fan-out destinations not yet applied: the lag
  std::chrono::nanoseconds oldest_pending_age{0};  // age of the oldest unapplied fan-out batch
};

namespace detail {

// An exponentially decayed event count: rate ~ value x ln 2 / half_life for a steady stream.
struct decayed_count {
  double value = 0.0;
  std::int64_t last_ns = 0;

  [[nodiscard]] double at(std::int64_t now_ns, std::int64_t half_life_ns) const noexcept {
    if (now_ns <= last_ns || value == 0.0) return value;
    return value *
           std::exp2(-static_cast<double>(now_ns - last_ns) / static_cast<double>(half_life_ns));
  }
  void add(std::int64_t now_ns, std::int64_t half_life_ns) noexcept {
    value = at(now_ns, half_life_ns) + 1.0;
    last_ns = std::max(last_ns, now_ns);
  }
};

// A ring of entries, oldest first, growing by doubling up to the timeline length.
class entry_ring {
 public:
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::size_t slots() const noexcept { return buf_.size(); }
  [[nodiscard]] const feed_entry& at(std::size_t i) const noexcept { return buf_[wrap(head_ + i)]; }
  [[nodiscard]] feed_entry& at(std::size_t i) noexcept { return buf_[wrap(head_ + i)]; }

  // Appends (room must exist or the ring may grow: size() < max).
  void push_back(const feed_entry& e, std::size_t max) {
    if (size_ == buf_.size()) grow(max);
    buf_[wrap(head_ + size_)] = e;
    ++size_;
  }
  void pop_front() noexcept {
    head_ = wrap(head_ + 1);
    --size_;
  }
  void insert_at(std::size_t pos, const feed_entry& e, std::size_t max) {
    push_back(e, max);
    for (std::size_t i = size_ - 1; i > pos; --i)
      at(i) = at(i - 1);
    at(pos) = e;
  }
  // First index whose entry is not older than e.
  [[nodiscard]] std::size_t lower_bound(const feed_entry& e) const noexcept {
    std::size_t lo = 0;
    std::size_t hi = size_;
    while (lo < hi) {
      const std::size_t mid = lo + (hi - lo) / 2;
      if (older(at(mid), e)) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }
  template <class Pred>
  std::size_t erase_if(Pred pred) {
    std::size_t kept = 0;
    for (std::size_t i = 0; i < size_; ++i) {
      if (!pred(at(i))) at(kept++) = at(i);
    }
    const std::size_t erased = size_ - kept;
    size_ = kept;
    return erased;
  }
  void assign(std::vector<feed_entry>&& ascending) {
    buf_ = std::move(ascending);
    head_ = 0;
    size_ = buf_.size();
  }

 private:
  [[nodiscard]] std::size_t wrap(std::size_t i) const noexcept {
    return i >= buf_.size() ? i - buf_.size() : i;
  }
  void grow(std::size_t max) {
    const std::size_t want = std::min(max, std::max<std::size_t>(8, buf_.size() * 2));
    std::vector<feed_entry> next;
    next.reserve(want);
    for (std::size_t i = 0; i < size_; ++i)
      next.push_back(at(i));
    next.resize(want);
    buf_ = std::move(next);
    head_ = 0;
  }

  std::vector<feed_entry> buf_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

// The entries of a materialised timeline and their horizon: the ring holds the newest
// `length` posts of the authors pushed to it. Invariant (once fan-out drained): it holds every
// live post of its pushed authors that is newer than `horizon`, the newest entry it ever
// dropped or refused for lack of room (none: it holds them all). The horizon is kept apart from
// the entries because removals can empty the timeline, after which its oldest entry no longer
// tells where it stops being complete.
struct ring_timeline {
  entry_ring entries;
  std::optional<feed_entry> horizon;

  void raise_horizon(const feed_entry& e) {
    if (!horizon || older(*horizon, e)) horizon = e;
  }

  // Writes e unless it is there already or not newer than the horizon.
  bool write(const feed_entry& e, std::size_t max) {
    if (horizon && !older(*horizon, e)) return false;
    auto& r = entries;
    std::size_t pos = r.size();
    if (pos != 0 && !older(r.at(pos - 1), e)) {
      pos = r.lower_bound(e);
      if (pos < r.size() && r.at(pos) == e) return false;
    }
    if (r.size() == max) {
      if (pos == 0) {
        raise_horizon(e);
        return false;
      }
      raise_horizon(r.at(0));
      r.pop_front();
      --pos;
    }
    if (pos == r.size()) {
      r.push_back(e, max);
    } else {
      r.insert_at(pos, e, max);
    }
    return true;
  }

  // Writes an author's posts (oldest first) when the author turns push: its newest `max`,
  // newest first, until the horizon stops them. Returns the entries written.
  std::size_t backfill(std::span<const feed_entry> posts, std::size_t max) {
    const std::size_t from = posts.size() > max ? posts.size() - max : 0;
    std::size_t written = 0;
    for (std::size_t i = posts.size(); i-- > from;) {
      if (!write(posts[i], max)) {
        if (horizon && !older(*horizon, posts[i])) break;  // so are the older ones
        continue;
      }
      ++written;
    }
    // The author's posts below its newest `max` are not held: older than the `max` entries
    // the timeline now holds at least.
    if (from != 0) raise_horizon(posts[from - 1]);
    return written;
  }

  // The newest min(limit, size) entries, newest first.
  [[nodiscard]] std::vector<feed_entry> newest(std::size_t limit) const {
    const std::size_t n = std::min(limit, entries.size());
    std::vector<feed_entry> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
      out.push_back(entries.at(entries.size() - 1 - i));
    return out;
  }
};

// A materialised timeline: its entries (in the store's form) and what the service decides
// with: the authors pushed to it, each with how many of its posts had skipped fan-out when the
// timeline last caught up with it (hybrid: posts made while above the threshold), and its
// view rate (per-pair). The service keeps these in a slab and reuses them: `owner` says whose
// timeline it is now (a user's index in the service's directory), or nobody's (free, or
// evicted); every member is read and written under `mutex`.
template <class Entries>
struct alignas(cache_line_size) timeline_state {
  static constexpr std::uint32_t no_owner = std::numeric_limits<std::uint32_t>::max();

  std::mutex mutex;
  std::uint32_t owner = no_owner;
  feed_user_id user = 0;
  // A read's time, no later than the cache's last access to this timeline (inactive_after).
  std::int64_t read_ns = 0;
  Entries entries;
  boost::unordered_flat_map<feed_user_id, std::uint64_t> pushed;
  decayed_count views;
};

// A unit of fan-out: write (or erase) one entry into the timelines of a range of a shared
// destination list (the followers' indexes in the service's directory).
struct fan_out_batch {
  enum class op : std::uint8_t { write, erase };
  op action = op::write;
  feed_entry entry;
  std::shared_ptr<const std::vector<std::uint32_t>> destinations;
  std::uint32_t begin = 0;
  std::uint32_t end = 0;
  std::uint64_t seq = 0;
};

}  // namespace detail

// A timeline store: where feed_service keeps the entries of materialised timelines (the
// service keeps the rest: which authors are pushed, view rates, the memory-bounded index).
// The service calls every member but the constructor, weight(), prefetch() and the gauges with
// the timeline's own lock held; a store that shares state between timelines (a connection)
// locks it itself. Requirements, for a store S with S::timeline t (one timeline's entries,
// default-constructed empty, move-assignable: the service resets a released timeline to a
// default one before reusing its place) and the timeline's user u:
//   S(S::options_type, feed_options)        built by the service
//   S::weight(options)                      bytes the service's memory bound counts per timeline
//   write(u, t, e, max) -> bool             inserts e in order, the oldest dropped past max;
//                                           false: a duplicate, or not newer than the horizon
//   backfill(u, t, posts, max) -> size_t    an author's posts (oldest first) turned push
//   erase_post(u, t, e), erase_author(u, t, a)
//   assign(u, t, ascending, horizon)        a rebuilt timeline replaces t's entries
//   needs_rebuild(u, t, limit) -> bool      t cannot answer a read of `limit` by itself
//   read(u, t, limit) -> optional<vector>   the newest min(limit, size) entries, newest first;
//                                           nullopt: t's entries were lost, rebuild it
//   release(u, t)                           t left the service's index (evicted or expired)
//   flush()                                 applies what write/erase deferred (a pipeline)
//   stored_entries(), stored_bytes()        gauges over the timelines not released
// Optional: prefetch(t) starts loading what t's next write touches; called without t's lock
// (while another thread may write t), a few destinations ahead of the fan-out's writes.
template <class S>
concept timeline_store = std::default_initializable<typename S::timeline> &&
    std::is_move_assignable_v<typename S::timeline> &&
    std::constructible_from<S, typename S::options_type, const feed_options&> &&
    requires(S& s, typename S::timeline& t, feed_user_id u, const feed_entry& e, std::size_t n,
             std::span<const feed_entry> posts, std::vector<feed_entry>&& ascending,
             std::optional<feed_entry> horizon, const feed_options& o) {
  { S::weight(o) } -> std::convertible_to<std::size_t>;
  { s.write(u, t, e, n) } -> std::same_as<bool>;
  { s.backfill(u, t, posts, n) } -> std::same_as<std::size_t>;
  s.erase_post(u, t, e);
  s.erase_author(u, t, u);
  s.assign(u, t, std::move(ascending), horizon);
  { s.needs_rebuild(u, t, n) } -> std::same_as<bool>;
  { s.read(u, t, n) } -> std::same_as<std::optional<std::vector<feed_entry>>>;
  s.release(u, t);
  s.flush();
  { std::as_const(s).stored_entries() } -> std::convertible_to<std::size_t>;
  { std::as_const(s).stored_bytes() } -> std::convertible_to<std::size_t>;
};

// The default timeline store: each timeline a ring of 24-byte entries in process, growing by
// doubling up to timeline_length; nothing is deferred (flush() does nothing). Thread safety:
// the service serialises calls per timeline; the gauges are atomic.
class in_process_timelines {
 public:
  struct options_type {};
  class timeline {
   public:
    timeline() = default;
    timeline(const timeline&) = delete;
    timeline& operator=(const timeline&) = delete;
    timeline(timeline&& o) noexcept { *this = std::move(o); }
    timeline& operator=(timeline&& o) noexcept {
      ring_ = std::move(o.ring_);
      released_ = o.released_;
      newest_.store(o.newest_.load(std::memory_order_relaxed), std::memory_order_relaxed);
      oldest_.store(o.oldest_.load(std::memory_order_relaxed), std::memory_order_relaxed);
      return *this;
    }
    ~timeline() = default;

   private:
    friend class in_process_timelines;
    detail::ring_timeline ring_;
    bool released_ = false;
    // Where the next write looks (the newest slot, the oldest): read without the timeline's
    // lock by prefetch(), only as addresses to prefetch, never dereferenced there.
    std::atomic<const feed_entry*> newest_{nullptr};
    std::atomic<const feed_entry*> oldest_{nullptr};
  };

  in_process_timelines(options_type /*options*/, const feed_options& /*feed*/) {}

  // A timeline weighs its full length (timeline_length x 24 B, plus 256 B), so the service's
  // memory bound holds however full the timelines get.
  [[nodiscard]] static std::size_t weight(const feed_options& o) noexcept {
    return o.timeline_length * sizeof(feed_entry) + 256;
  }

  bool write(feed_user_id /*user*/, timeline& t, const feed_entry& e, std::size_t max) {
    const gauge g{*this, t};
    return t.ring_.write(e, max);
  }
  std::size_t backfill(feed_user_id /*user*/, timeline& t, std::span<const feed_entry> posts,
                       std::size_t max) {
    const gauge g{*this, t};
    return t.ring_.backfill(posts, max);
  }
  void erase_post(feed_user_id /*user*/, timeline& t, const feed_entry& e) {
    const gauge g{*this, t};
    (void)t.ring_.entries.erase_if([&](const feed_entry& x) { return x.post == e.post; });
  }
  void erase_author(feed_user_id /*user*/, timeline& t, feed_user_id author) {
    const gauge g{*this, t};
    (void)t.ring_.entries.erase_if([author](const feed_entry& x) { return x.author == author; });
  }
  void assign(feed_user_id /*user*/, timeline& t, std::vector<feed_entry>&& ascending,
              std::optional<feed_entry> horizon) {
    const gauge g{*this, t};
    t.ring_.entries.assign(std::move(ascending));
    t.ring_.horizon = horizon;
  }
  // Starts loading the ring slots the next write touches (the newest entry, the oldest). Safe
  // without the timeline's lock: it reads two atomic addresses the last write left (a ring
  // reallocated since makes them stale, which only wastes the prefetch).
  void prefetch(const timeline& t) const noexcept {
    if (const feed_entry* newest = t.newest_.load(std::memory_order_relaxed))
      __builtin_prefetch(newest);
    if (const feed_entry* oldest = t.oldest_.load(std::memory_order_relaxed))
      __builtin_prefetch(oldest);
  }
  [[nodiscard]] bool needs_rebuild(feed_user_id /*user*/, timeline& t, std::size_t limit) const {
    return t.ring_.horizon && t.ring_.entries.size() < limit;
  }
  [[nodiscard]] std::optional<std::vector<feed_entry>> read(feed_user_id /*user*/, timeline& t,
                                                            std::size_t limit) const {
    return t.ring_.newest(limit);
  }
  void release(feed_user_id /*user*/, timeline& t) {
    if (t.released_) return;
    t.released_ = true;
    t.newest_.store(nullptr, std::memory_order_relaxed);
    t.oldest_.store(nullptr, std::memory_order_relaxed);
    entries_.fetch_sub(static_cast<std::int64_t>(t.ring_.entries.size()));
    slots_.fetch_sub(static_cast<std::int64_t>(t.ring_.entries.slots()));
  }
  void flush() noexcept {}

  [[nodiscard]] std::size_t stored_entries() const noexcept {
    return static_cast<std::size_t>(std::max<std::int64_t>(0, entries_.load()));
  }
  // Allocated slots x 24 B (rings grow by doubling).
  [[nodiscard]] std::size_t stored_bytes() const noexcept {
    return static_cast<std::size_t>(std::max<std::int64_t>(0, slots_.load())) * sizeof(feed_entry);
  }

 private:
  // Adds a timeline's change in entries and slots to the gauges (a released timeline was
  // subtracted whole), and leaves the addresses its next write touches for prefetch().
  class gauge {
   public:
    gauge(in_process_timelines& store, timeline& t)
        : store_(store), t_(t), entries_(t.ring_.entries.size()), slots_(t.ring_.entries.slots()) {}
    gauge(const gauge&) = delete;
    gauge& operator=(const gauge&) = delete;
    ~gauge() {
      if (t_.released_) return;
      const auto& r = t_.ring_.entries;
      t_.newest_.store(r.size() == 0 ? nullptr : &r.at(r.size() - 1), std::memory_order_relaxed);
      t_.oldest_.store(r.size() == 0 ? nullptr : &r.at(0), std::memory_order_relaxed);
      if (r.size() != entries_) {
        store_.entries_.fetch_add(static_cast<std::int64_t>(r.size()) -
                                  static_cast<std::int64_t>(entries_));
      }
      if (r.slots() != slots_) {
        store_.slots_.fetch_add(static_cast<std::int64_t>(r.slots()) -
                                static_cast<std::int64_t>(slots_));
      }
    }

   private:
    in_process_timelines& store_;
    timeline& t_;
    std::size_t entries_;
    std::size_t slots_;
  };

  std::atomic<std::int64_t> entries_{0};
  std::atomic<std::int64_t> slots_{0};
};

// The feed service. See the banner at the top of this header.
//
// Template parameters:
//   Policy: a fan_out_policy tag: fan_out_on_read, fan_out_on_write, hybrid_fan_out or
//           per_pair_fan_out.
//   Clock: a clock_source for the fan-out lag, the per-pair rates and inactive_after
//          (tests pass scaling::manual_clock).
//   Store: a timeline_store holding the materialised timelines' entries:
//          in_process_timelines (the default), or redis_timelines
//          (scaling/feed/redis_timelines.hpp: Redis lists, as Twitter kept them).
template <fan_out_policy Policy, clock_source Clock = std::chrono::steady_clock,
          timeline_store Store = in_process_timelines>
class feed_service {
  static constexpr fan_out_kind kind = Policy::kind;
  static constexpr bool materialises = kind != fan_out_kind::on_read;
  using timeline_state = detail::timeline_state<typename Store::timeline>;
  using timeline_ptr = timeline_state*;  // a place in the slab: never freed while the service lives
  static constexpr std::uint32_t no_owner = timeline_state::no_owner;
  using batch = detail::fan_out_batch;
  struct timeline_cache : cache<feed_user_id, timeline_ptr, lru, sharded<16>> {
    using cache<feed_user_id, timeline_ptr, lru, sharded<16>>::cache;
    static constexpr std::size_t segments = 16;
  };

 public:
  using policy_type = Policy;
  using clock_type = Clock;
  using store_type = Store;

  // Throws: scaling::invalid_argument if timeline_length is 0 or above 2^24, fan_out_batch is 0,
  // timeline_memory is below 16 timelines' weight (one per cache segment), inactive_after or
  // rate_half_life is <= 0, cost_ratio or push_threshold is negative or not finite.
  explicit feed_service(feed_options options = {}, Clock clock = Clock{})
      : feed_service(options, typename Store::options_type{}, clock) {}
  // As above, with the store's own options (redis_timelines: the server and key prefix).
  // Throws: as above, and what the store's constructor throws for its options.
  feed_service(feed_options options, typename Store::options_type store_options,
               Clock clock = Clock{})
      : options_(checked(options)),
        clock_(clock),
        store_(std::move(store_options), options_),
        timelines_(options_.timeline_memory, timeline_cache_options(options_, clock)),
        queue_(work_queue_options{.visibility_timeout = std::chrono::nanoseconds::max(),
                                  .max_receives = 1,
                                  .priority_levels = 2},
               clock) {
    if constexpr (materialises) {
      for (std::size_t i = 0; i < options_.fan_out_workers; ++i) {
        workers_.emplace_back([this, i](std::stop_token stop) { work(stop, i + 1); });
      }
    }
  }

  feed_service(const feed_service&) = delete;
  feed_service& operator=(const feed_service&) = delete;

  // Stops the workers; fan-out not yet applied is dropped with the timelines.
  ~feed_service() {
    queue_.close();
    for (auto& w : workers_)
      w.request_stop();
    workers_.clear();
  }

  // `follower` follows `followee`; a materialised timeline of the follower gets the followee's
  // posts now when the policy pushes them.
  // Returns: false if the edge existed (nothing changes).
  // Throws: scaling::invalid_argument if follower == followee; what the store throws
  //   (redis::error), after the edge is recorded: the timeline is rebuilt on its next read.
  bool follow(feed_user_id follower, feed_user_id followee) {
    if (follower == followee) {
      detail::throw_invalid_argument("scaling::feed_service::follow", "followee",
                                     "must differ from the follower", followee);
    }
    std::unique_lock lock{graph_};
    user_record& f = record_of(follower);
    if (!f.followees.insert(followee).second) return false;
    const std::uint32_t index = f.index;
    record_of(followee).followers.insert(index);
    if constexpr (materialises) {
      if (timeline_ptr tl = present(follower)) {
        std::scoped_lock tl_lock{tl->mutex};
        if (tl->owner == index && pushes(followee, *tl)) switch_to_push(follower, *tl, followee);
      }
    }
    return true;
  }

  // `follower` stops following `followee`; the followee's posts leave the follower's
  // materialised timeline now. Returns: false if there was no such edge.
  bool unfollow(feed_user_id follower, feed_user_id followee) {
    std::unique_lock lock{graph_};
    auto f = users_.find(follower);
    if (f == users_.end() || f->second.followees.erase(followee) == 0) return false;
    const std::uint32_t index = f->second.index;
    record_of(followee).followers.erase(index);
    if constexpr (materialises) {
      if (timeline_ptr tl = present(follower)) {
        std::scoped_lock tl_lock{tl->mutex};
        if (tl->owner == index && tl->pushed.contains(followee))
          switch_to_pull(follower, *tl, followee);
      }
    }
    return true;
  }

  // Publishes a post; the policy's fan-out is queued (applied by the workers, or by
  // run_fan_out() when there are none).
  // Returns: false if the id was used before (a retry, or a clash), and nothing changes.
  bool post(feed_user_id author, feed_post_id id, feed_time time) {
    const feed_entry e{time, id, author};
    std::unique_lock lock{graph_};
    if (!posts_.try_emplace(id, post_record{author, time, true}).second) {
      duplicate_posts_.add();
      return false;
    }
    user_record& a = record_of(author);
    auto& list = a.posts;
    if (list.empty() || older(list.back(), e)) {
      list.push_back(e);
    } else {
      list.insert(std::lower_bound(list.begin(), list.end(), e, older), e);
    }
    a.post_rate.add(now_ns(), half_life_ns());
    posts_count_.add();
    if constexpr (materialises) {
      const bool fans_out =
          kind != fan_out_kind::hybrid || a.followers.size() < options_.celebrity_threshold;
      if (fans_out) {
        enqueue(batch::op::write, e, a.followers, 0);
      } else {
        // Timelines that still push this author miss the post: they catch up when they see
        // the count move (their next read, or the author's next fanned-out post).
        ++a.unfanned;
      }
    }
    return true;
  }

  // Removes a post from every timeline (materialised ones through the fan-out).
  // Returns: false if `id` is unknown, already removed, or not `author`'s.
  bool remove(feed_user_id author, feed_post_id id) {
    std::unique_lock lock{graph_};
    auto it = posts_.find(id);
    if (it == posts_.end() || !it->second.live || it->second.author != author) return false;
    it->second.live = false;
    const feed_entry e{it->second.time, id, author};
    user_record& a = record_of(author);
    auto& list = a.posts;
    const auto pos = std::lower_bound(list.begin(), list.end(), e, older);
    SCALING_ASSERT(pos != list.end() && *pos == e, "a live post is in its author's list");
    list.erase(pos);
    removals_.add();
    // Removals go first: a take-down matters more than a new post.
    if constexpr (materialises) enqueue(batch::op::erase, e, a.followers, 1);
    return true;
  }

  // The newest min(limit, timeline_length) posts of the user's followees, newest first.
  // A fan_out_on_write / hybrid / per-pair read rebuilds a missing timeline (a cache miss)
  // and re-decides push or pull for each followee (hybrid, per-pair). limit 0 returns {}.
  // Throws: what the store throws (redis::error: Redis down, within its timeouts).
  [[nodiscard]] std::vector<feed_entry> timeline(feed_user_id user, std::size_t limit) {
    if (limit == 0) return {};
    limit = std::min(limit, options_.timeline_length);
    reads_.add();
    std::shared_lock lock{graph_};
    auto u = users_.find(user);
    if (u == users_.end() || u->second.followees.empty()) return {};
    const user_record& rec = u->second;
    std::vector<const std::vector<feed_entry>*> sources;
    if constexpr (!materialises) {
      for (const feed_user_id a : rec.followees)
        add_source(sources, a);
      return merge({}, sources, limit);
    } else {
      // The cache says which timeline is the user's; a place evicted (and perhaps reused)
      // between the lookup and the lock is looked up again.
      timeline_ptr tl = nullptr;
      std::unique_lock<std::mutex> tl_lock;
      for (;;) {
        const std::int64_t now = now_ns();  // before the cache's access: read_ns stays behind it
        tl = timelines_.get(user).value_or(nullptr);
        const bool built = tl == nullptr;
        if (built) tl = materialise(user, rec, now);
        tl_lock = std::unique_lock{tl->mutex};
        if (tl->owner != rec.index) {
          tl_lock.unlock();
          continue;
        }
        if (!built) tl->views.add(now, half_life_ns());
        tl->read_ns = std::max(tl->read_ns, now);
        break;
      }
      // Fan-out finds the timeline through the directory; a put that replaced another
      // timeline of the user may have left it pointing at the replaced one.
      if (directory_[rec.index].state.load(std::memory_order_relaxed) != tl)
        directory_[rec.index].state.store(tl, std::memory_order_release);
      if constexpr (kind == fan_out_kind::hybrid || kind == fan_out_kind::per_pair) {
        for (const feed_user_id a : rec.followees) {
          const bool push = pushes(a, *tl);
          const auto it = tl->pushed.find(a);
          if (push && (it == tl->pushed.end() || it->second != unfanned_of(a))) {
            switch_to_push(user, *tl, a);  // new, or posts skipped fan-out since: catch up
          } else if (!push && it != tl->pushed.end()) {
            switch_to_pull(user, *tl, a);
          }
        }
        for (const feed_user_id a : rec.followees) {
          if (!tl->pushed.contains(a)) add_source(sources, a);
        }
      }
      store_.flush();  // deferred writes applied: the store knows what it holds
      if (store_.needs_rebuild(user, tl->entries, limit)) rebuild(user, *tl);
      std::optional<std::vector<feed_entry>> stored = store_.read(user, tl->entries, limit);
      if (!stored) {  // the store lost them behind the service's back (Redis)
        rebuild(user, *tl);
        stored = store_.read(user, tl->entries, limit);
      }
      return merge(std::move(stored).value_or(std::vector<feed_entry>{}), sources, limit);
    }
  }

  // Runs up to `max_batches` queued fan-out batches on the calling thread (for services built
  // with fan_out_workers = 0, and to help the workers). Returns how many ran.
  // Throws: what the store throws for a batch (redis::error), after dropping that batch.
  std::size_t run_fan_out(std::size_t max_batches = std::numeric_limits<std::size_t>::max()) {
    std::size_t ran = 0;
    while (ran < max_batches) {
      auto got = queue_.receive(0, 1);
      if (got.empty()) break;
      ++ran;
      if (std::exception_ptr failed = finish(got.front())) std::rethrow_exception(failed);
    }
    return ran;
  }

  // Waits (real time; nanoseconds::max() is forever) until no fan-out is pending, the
  // deadline passes or `stop` is requested. Returns ready, timed_out or stopped.
  template <class Rep, class Period>
  [[nodiscard]] wait_status wait_fan_out_for(std::chrono::duration<Rep, Period> timeout) {
    return wait_fan_out_until(deadline_after(std::chrono::steady_clock{}, timeout));
  }
  template <class Rep, class Period>
  [[nodiscard]] wait_status wait_fan_out_for(std::chrono::duration<Rep, Period> timeout,
                                             std::stop_token stop) {
    return wait_fan_out_until(deadline_after(std::chrono::steady_clock{}, timeout),
                              std::move(stop));
  }
  [[nodiscard]] wait_status wait_fan_out_until(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock{lag_mutex_};
    return drained_.wait_until(lock, deadline, [&] { return pending_.empty(); })
               ? wait_status::ready
               : wait_status::timed_out;
  }
  [[nodiscard]] wait_status wait_fan_out_until(std::chrono::steady_clock::time_point deadline,
                                               std::stop_token stop) {
    std::unique_lock lock{lag_mutex_};
    if (drained_.wait_until(lock, stop, deadline, [&] { return pending_.empty(); }))
      return wait_status::ready;
    return stop.stop_requested() ? wait_status::stopped : wait_status::timed_out;
  }

  // Followers of `user` now (0 for an unknown user).
  [[nodiscard]] std::size_t follower_count(feed_user_id user) const {
    std::shared_lock lock{graph_};
    auto it = users_.find(user);
    return it == users_.end() ? 0 : it->second.followers.size();
  }

  // Whether `user`'s timeline is materialised now (not a read: no recency update).
  [[nodiscard]] bool materialised(feed_user_id user) const { return timelines_.contains(user); }

  [[nodiscard]] feed_service_stats stats() const {
    feed_service_stats s;
    s.posts = posts_count_.load();
    s.duplicate_posts = duplicate_posts_.load();
    s.removals = removals_.load();
    s.reads = reads_.load();
    s.timeline_writes = timeline_writes_.load();
    s.fan_out_deliveries = deliveries_.load();
    s.fan_out_skipped = skipped_.load();
    s.fan_out_pulled = pulled_.load();
    s.backfill_writes = backfill_writes_.load();
    s.rebuilds = rebuilds_.load();
    s.read_work = read_work_.load();
    s.mode_switches = mode_switches_.load();
    s.fan_out_errors = fan_out_errors_.load();
    s.materialised_timelines = timelines_.size();
    s.stored_entries = store_.stored_entries();
    s.stored_bytes = store_.stored_bytes();
    std::scoped_lock lock{lag_mutex_};
    s.pending_writes = pending_writes_;
    if (!pending_.empty()) {
      const auto now = clock_.now();
      const auto since = pending_.begin()->second;
      if (now > since) {
        s.oldest_pending_age = std::chrono::duration_cast<std::chrono::nanoseconds>(now - since);
      }
    }
    return s;
  }

  [[nodiscard]] const feed_options& options() const noexcept { return options_; }

 private:
  struct user_record {
    std::uint32_t index = 0;  // the user's place in directory_
    boost::unordered_flat_set<feed_user_id> followees;
    boost::unordered_flat_set<std::uint32_t> followers;  // their indexes in directory_
    std::vector<feed_entry> posts;                       // live posts, oldest first
    detail::decayed_count post_rate;
    std::uint64_t unfanned = 0;  // posts that skipped fan-out (hybrid: above the threshold)
  };
  struct post_record {
    feed_user_id author = 0;
    feed_time time = 0;
    bool live = true;
  };
  // A user's entry in the directory (indexed by user_record::index): the user, and the place
  // of the user's materialised timeline, the handle fan-out writes through without a lookup in
  // the cache. A hint: the cache stays the authority on which timelines are materialised, and
  // a place whose owner is no longer the user (evicted, perhaps reused) sends fan-out back to
  // the cache. Entries are added under the graph lock held unique; the place is atomic.
  struct directory_slot {
    feed_user_id user = 0;
    std::atomic<timeline_ptr> state{nullptr};

    explicit directory_slot(feed_user_id u) noexcept : user(u) {}
    directory_slot(directory_slot&& o) noexcept
        : user(o.user), state(o.state.load(std::memory_order_relaxed)) {}
    directory_slot& operator=(directory_slot&&) = delete;
    ~directory_slot() = default;
  };
  // The places of materialised timelines: never freed while the service lives (a handle read
  // from the directory can always be locked and checked), reused after an eviction.
  class timeline_slab {
   public:
    [[nodiscard]] timeline_ptr acquire() {
      std::scoped_lock lock{mutex_};
      if (!free_.empty()) {
        timeline_ptr tl = free_.back();
        free_.pop_back();
        return tl;
      }
      free_.reserve(states_.size() + 1);  // recycle() then never allocates
      return &states_.emplace_back();
    }
    void recycle(timeline_ptr tl) noexcept {
      std::scoped_lock lock{mutex_};
      free_.push_back(tl);
    }

   private:
    std::mutex mutex_;
    std::deque<timeline_state> states_;
    std::vector<timeline_ptr> free_;
  };

  // The user's record, created (with its directory entry) if new (the graph lock is held,
  // unique).
  user_record& record_of(feed_user_id user) {
    auto [it, added] = users_.try_emplace(user);
    if (added) {
      try {
        if (directory_.size() >= no_owner) throw std::length_error("scaling::feed_service: users");
        directory_.emplace_back(user);
      } catch (...) {
        users_.erase(it);
        throw;
      }
      it->second.index = static_cast<std::uint32_t>(directory_.size() - 1);
    }
    return it->second;
  }

  static feed_options checked(const feed_options& o) {
    constexpr std::string_view who = "scaling::feed_service";
    if (o.timeline_length == 0 || o.timeline_length > (std::size_t{1} << 24)) {
      detail::throw_invalid_argument(who, "timeline_length", "must be in [1, 2^24]",
                                     o.timeline_length);
    }
    if (o.fan_out_batch == 0 || o.fan_out_batch > 0xffffffffU)
      detail::throw_invalid_argument(who, "fan_out_batch", "must be in [1, 2^32)", o.fan_out_batch);
    if (o.timeline_memory < timeline_cache::segments * weight_of(o)) {
      detail::throw_invalid_argument(
          who, "timeline_memory",
          "must hold 16 timelines of the store's weight (in process: timeline_length x 24 + "
          "256 bytes), one per cache segment",
          o.timeline_memory);
    }
    if (o.inactive_after && o.inactive_after->count() <= 0) {
      detail::throw_invalid_argument(who, "inactive_after", "must be > 0 ns",
                                     o.inactive_after->count());
    }
    if (o.rate_half_life.count() <= 0) {
      detail::throw_invalid_argument(who, "rate_half_life", "must be > 0 ns",
                                     o.rate_half_life.count());
    }
    if (!(o.cost_ratio >= 0.0) || !std::isfinite(o.cost_ratio))
      detail::throw_invalid_argument(who, "cost_ratio", "must be finite and >= 0", o.cost_ratio);
    if (!(o.switch_margin >= 0.0 && o.switch_margin < 1.0))
      detail::throw_invalid_argument(who, "switch_margin", "must be in [0, 1)", o.switch_margin);
    if (!(o.push_threshold >= 0.0) || !std::isfinite(o.push_threshold)) {
      detail::throw_invalid_argument(who, "push_threshold", "must be finite and >= 0",
                                     o.push_threshold);
    }
    return o;
  }

  static std::size_t weight_of(const feed_options& o) { return Store::weight(o); }

  cache_options<feed_user_id, timeline_ptr> timeline_cache_options(const feed_options& o,
                                                                   Clock clock) {
    cache_options<feed_user_id, timeline_ptr> c;
    c.expire_after_access = o.inactive_after;
    c.clock = cache_clock(clock);
    const std::size_t w = weight_of(o);
    c.weigher = [w](const feed_user_id&, const timeline_ptr&) { return w; };
    c.listener = [this](const feed_user_id& user, const timeline_ptr& tl, removal_cause) {
      discard(user, tl);
    };
    return c;
  }

  // A timeline the cache dropped (or one never stored): its place loses its owner, which
  // invalidates every handle to it, and goes back to the slab.
  void discard(feed_user_id user, timeline_ptr tl) {
    std::exception_ptr failed;
    {
      std::scoped_lock lock{tl->mutex};
      if (tl->owner == no_owner) return;  // discarded already: in the slab's free list
      tl->owner = no_owner;
      try {
        store_.release(user, tl->entries);
      } catch (...) {
        failed = std::current_exception();
      }
      tl->entries = typename Store::timeline{};
      tl->pushed.clear();
      tl->views = {};
    }
    slab_.recycle(tl);
    if (failed) std::rethrow_exception(failed);
  }

  // Builds `user`'s timeline from its pushed authors' posts in a place of the slab, and stores
  // it in the cache and the directory (the graph lock is held, shared).
  timeline_ptr materialise(feed_user_id user, const user_record& rec, std::int64_t now) {
    timeline_ptr tl = slab_.acquire();
    try {
      std::scoped_lock lock{tl->mutex};
      tl->owner = rec.index;
      tl->user = user;
      tl->read_ns = now;
      tl->views.add(now, half_life_ns());
      for (const feed_user_id a : rec.followees) {
        if (pushes(a, *tl)) tl->pushed.emplace(a, unfanned_of(a));
      }
      rebuild(user, *tl);
    } catch (...) {
      discard(user, tl);
      throw;
    }
    directory_[rec.index].state.store(tl, std::memory_order_release);
    try {
      timelines_.put(user, tl);
    } catch (...) {
      discard(user, tl);
      throw;
    }
    return tl;
  }

  [[nodiscard]] std::int64_t now_ns() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.now().time_since_epoch())
        .count();
  }
  [[nodiscard]] std::int64_t half_life_ns() const noexcept {
    return options_.rate_half_life.count();
  }

  // The user's materialised timeline, as the cache says (not a read: no recency update).
  [[nodiscard]] timeline_ptr present(feed_user_id user) const {
    return timelines_.peek(user).value_or(nullptr);
  }

  // Whether `author`'s posts are pushed into `tl` (the graph lock is held, shared or unique).
  [[nodiscard]] bool pushes(feed_user_id author, const timeline_state& tl) const {
    if constexpr (kind == fan_out_kind::on_write) {
      return true;
    } else if constexpr (kind == fan_out_kind::hybrid) {
      auto it = users_.find(author);
      return it == users_.end() || it->second.followers.size() < options_.celebrity_threshold;
    } else if constexpr (kind == fan_out_kind::per_pair) {
      auto it = users_.find(author);
      const std::int64_t now = now_ns();
      const double posts = it == users_.end() ? 0.0 : it->second.post_rate.at(now, half_life_ns());
      const double margin =
          tl.pushed.contains(author) ? 1.0 - options_.switch_margin : 1.0 + options_.switch_margin;
      return tl.views.at(now, half_life_ns()) * options_.cost_ratio >=
             margin * options_.push_threshold * posts;
    } else {
      return false;
    }
  }

  // --- Timeline maintenance (the graph lock and the timeline's lock are held) ---------------

  void switch_to_push(feed_user_id user, timeline_state& tl, feed_user_id author) {
    tl.pushed.insert_or_assign(author, unfanned_of(author));
    mode_switches_.add();
    auto it = users_.find(author);
    if (it == users_.end()) return;
    const std::size_t written =
        store_.backfill(user, tl.entries, std::span{it->second.posts}, options_.timeline_length);
    timeline_writes_.add(written);
    backfill_writes_.add(written);
  }

  void switch_to_pull(feed_user_id user, timeline_state& tl, feed_user_id author) {
    tl.pushed.erase(author);
    mode_switches_.add();
    store_.erase_author(user, tl.entries, author);
  }

  // Rebuilds tl's entries from its pushed authors' posts (the graph lock is held).
  void rebuild(feed_user_id user, timeline_state& tl) {
    rebuilds_.add();
    std::vector<const std::vector<feed_entry>*> sources;
    for (const auto& pushed : tl.pushed)
      add_source(sources, pushed.first);
    // One more than fits: the first left out is the horizon.
    std::vector<feed_entry> newest = merge({}, sources, options_.timeline_length + 1);
    std::optional<feed_entry> horizon;
    if (newest.size() > options_.timeline_length) {
      horizon = newest.back();
      newest.pop_back();
    }
    std::reverse(newest.begin(), newest.end());
    store_.assign(user, tl.entries, std::move(newest), horizon);
  }

  void add_source(std::vector<const std::vector<feed_entry>*>& sources, feed_user_id author) const {
    auto it = users_.find(author);
    if (it != users_.end() && !it->second.posts.empty()) sources.push_back(&it->second.posts);
  }

  // The newest `limit` entries of a timeline's newest entries (newest first, as a store reads
  // them) and some author lists (oldest first), newest first: a k-way merge with a heap of one
  // cursor per source.
  std::vector<feed_entry> merge(std::vector<feed_entry> stored,
                                const std::vector<const std::vector<feed_entry>*>& lists,
                                std::size_t limit) {
    if (lists.empty()) {
      // The materialised fast path: the store's copy of the newest entries.
      if (stored.size() > limit) stored.resize(limit);
      read_work_.add(stored.size());
      return stored;
    }
    std::uint64_t work = 0;
    std::vector<feed_entry> out;
    struct cursor {
      feed_entry head;
      std::size_t source;  // lists.size() names the stored entries
      std::size_t next;    // entries left below head
    };
    // The stored entries as one more oldest-first source.
    std::reverse(stored.begin(), stored.end());
    auto entry = [&](const cursor& c, std::size_t i) -> const feed_entry& {
      return c.source == lists.size() ? stored[i] : (*lists[c.source])[i];
    };
    auto later = [](const cursor& a, const cursor& b) { return older(a.head, b.head); };
    std::vector<cursor> heap;
    heap.reserve(lists.size() + 1);
    for (std::size_t i = 0; i < lists.size(); ++i) {
      const auto& l = *lists[i];
      heap.push_back({l.back(), i, l.size() - 1});
    }
    if (!stored.empty()) heap.push_back({stored.back(), lists.size(), stored.size() - 1});
    work += heap.size();
    std::make_heap(heap.begin(), heap.end(), later);
    out.reserve(limit);
    while (!heap.empty() && out.size() < limit) {
      std::pop_heap(heap.begin(), heap.end(), later);
      cursor& c = heap.back();
      out.push_back(c.head);
      ++work;
      if (c.next == 0) {
        heap.pop_back();
        continue;
      }
      --c.next;
      c.head = entry(c, c.next);
      std::push_heap(heap.begin(), heap.end(), later);
    }
    read_work_.add(work);
    return out;
  }

  // --- Fan-out -------------------------------------------------------------------------------

  // Queues e for every follower, in batches (the graph lock is held, unique).
  void enqueue(batch::op action, const feed_entry& e,
               const boost::unordered_flat_set<std::uint32_t>& followers, std::uint8_t priority) {
    if (followers.empty()) return;
    auto dest =
        std::make_shared<const std::vector<std::uint32_t>>(followers.begin(), followers.end());
    const auto now = clock_.now();
    for (std::size_t begin = 0; begin < dest->size(); begin += options_.fan_out_batch) {
      const std::size_t end = std::min(dest->size(), begin + options_.fan_out_batch);
      batch b{action, e, dest, static_cast<std::uint32_t>(begin), static_cast<std::uint32_t>(end),
              0};
      {
        std::scoped_lock lock{lag_mutex_};
        b.seq = ++last_seq_;
        pending_.emplace(b.seq, now);
        pending_writes_ += end - begin;
      }
      (void)queue_.publish(std::move(b), {.priority = priority, .delay = {}, .group = {}});
    }
  }

  void work(std::stop_token stop, consumer_id me) {
    for (;;) {
      auto got = queue_.receive_until(me, 1, std::chrono::steady_clock::time_point::max(), stop);
      if (!got) return;
      for (auto& d : *got)
        (void)finish(d);  // a failure is counted in fan_out_errors
    }
  }

  // Applies a batch. A store that fails (Redis down) has marked the timelines it could not
  // write lost, to be rebuilt by their next read; the batch is dropped and counted.
  std::exception_ptr finish(delivery<batch>& d) {
    std::exception_ptr failed;
    try {
      apply(d.body);
    } catch (...) {
      fan_out_errors_.add();
      failed = std::current_exception();
    }
    (void)queue_.ack(d.receipt);
    {
      std::scoped_lock lock{lag_mutex_};
      pending_.erase(d.body.seq);
      pending_writes_ -= d.body.end - d.body.begin;
    }
    drained_.notify_all();
    return failed;
  }

  void apply(const batch& b) {
    std::shared_lock lock{graph_};
    const feed_entry& e = b.entry;
    deliveries_.add(b.end - b.begin);
    std::uint64_t written = 0;
    std::uint64_t skipped = 0;
    if (b.action == batch::op::write) {
      auto p = posts_.find(e.post);
      if (p == posts_.end() || !p->second.live) return;  // removed meanwhile
    }
    // A timeline last read at or before this may have expired in the cache: the cache decides.
    const std::int64_t stale_at = options_.inactive_after
                                      ? now_ns() - options_.inactive_after->count()
                                      : std::numeric_limits<std::int64_t>::min();
    // Each destination is a handle (its directory entry) to its timeline's place: no lookup
    // in the cache, no reference count. Thousands of timelines are far beyond the CPU caches,
    // so the walk loads in stages ahead of the writes, each stage from what the previous one
    // brought in: the directory entry 3 x `ahead` destinations ahead, the timeline's state
    // 2 x `ahead`, its ring slots (from addresses the store left in the state) `ahead`.
    constexpr std::size_t ahead = 8;
    const std::uint32_t* const dest = b.destinations->data() + b.begin;
    const std::size_t n = b.end - b.begin;
    // A store that fails on one destination (Redis down) must not leave the rest of the batch
    // silently without the post: every destination is still handed to the store (which marks
    // what it could not write lost, to be rebuilt by its next read), then the first error is
    // rethrown.
    std::exception_ptr failed;
    for (std::size_t k = 0; k < n; ++k) {
      if (k + 3 * ahead < n) __builtin_prefetch(&directory_[dest[k + 3 * ahead]]);
      if (k + 2 * ahead < n) {
        if (const timeline_ptr next =
                directory_[dest[k + 2 * ahead]].state.load(std::memory_order_relaxed))
          prefetch_state(*next);
      }
      if constexpr (requires(const typename Store::timeline& t) { store_.prefetch(t); }) {
        if (k + ahead < n) {
          if (const timeline_ptr next =
                  directory_[dest[k + ahead]].state.load(std::memory_order_relaxed))
            store_.prefetch(next->entries);
        }
      }
      directory_slot& slot = directory_[dest[k]];
      try {
        timeline_ptr tl = slot.state.load(std::memory_order_acquire);
        if (tl == nullptr) {  // never materialised, or seen evicted: RPUSHX
          ++skipped;
          continue;
        }
        if (apply_one(b, e, dest[k], slot.user, *tl, stale_at, written)) continue;
        // The handle is stale (evicted, perhaps reused, or expired): the cache decides.
        timeline_ptr current = present(slot.user);
        if (current == nullptr) {
          ++skipped;
          (void)slot.state.compare_exchange_strong(tl, nullptr, std::memory_order_relaxed);
          continue;
        }
        if (current != tl)
          (void)slot.state.compare_exchange_strong(tl, current, std::memory_order_release);
        if (!apply_one(b, e, dest[k], slot.user, *current, std::numeric_limits<std::int64_t>::min(),
                       written))
          ++skipped;  // evicted since
      } catch (...) {
        if (!failed) failed = std::current_exception();
      }
    }
    try {
      store_.flush();  // one pipeline per batch where the store defers
    } catch (...) {
      if (!failed) failed = std::current_exception();
    }
    timeline_writes_.add(written);
    skipped_.add(skipped);
    if (failed) std::rethrow_exception(failed);
  }

  // One destination of a batch (apply's loop body): the post written to, or erased from,
  // `user`'s timeline, or the author switched to push or pull there. Returns false, and does
  // nothing, if `tl` is no longer the timeline of the user at `index`, or was last read at or
  // before `stale_at` (the cache may have expired it).
  bool apply_one(const batch& b, const feed_entry& e, std::uint32_t index, feed_user_id user,
                 timeline_state& tl, std::int64_t stale_at, std::uint64_t& written) {
    std::scoped_lock tl_lock{tl.mutex};
    if (tl.owner != index || tl.read_ns <= stale_at) return false;
    if (b.action == batch::op::erase) {
      store_.erase_post(user, tl.entries, e);
      return true;
    }
    const auto found = tl.pushed.find(e.author);
    const bool pushed = found != tl.pushed.end();
    if constexpr (kind == fan_out_kind::per_pair) {
      const bool push = pushes(e.author, tl);
      if (push && !pushed && follows(user, e.author)) {
        switch_to_push(user, tl, e.author);  // brings e as well
        return true;
      }
      if (!push) {
        pulled_.add();
        if (pushed) switch_to_pull(user, tl, e.author);
        return true;
      }
    } else {
      if (!pushed && follows(user, e.author) && pushes(e.author, tl)) {
        switch_to_push(user, tl, e.author);
        return true;
      }
      if (kind == fan_out_kind::hybrid && pushed && found->second != unfanned_of(e.author)) {
        switch_to_push(user, tl, e.author);  // catch up with the posts that skipped fan-out
        return true;
      }
    }
    if (pushed && store_.write(user, tl.entries, e, options_.timeline_length)) ++written;
    return true;
  }

  static void prefetch_state(const timeline_state& tl) noexcept {
    const auto* at = reinterpret_cast<const char*>(&tl);
    for (std::size_t line = 0; line < sizeof(timeline_state); line += cache_line_size)
      __builtin_prefetch(at + line);
  }

  [[nodiscard]] std::uint64_t unfanned_of(feed_user_id author) const {
    auto it = users_.find(author);
    return it == users_.end() ? 0 : it->second.unfanned;
  }

  [[nodiscard]] bool follows(feed_user_id follower, feed_user_id followee) const {
    auto it = users_.find(follower);
    return it != users_.end() && it->second.followees.contains(followee);
  }

  feed_options options_;
  Clock clock_;
  Store store_;
  mutable std::shared_mutex graph_;
  boost::unordered_flat_map<feed_user_id, user_record> users_;
  boost::unordered_flat_map<feed_post_id, post_record> posts_;
  std::vector<directory_slot> directory_;  // by user_record::index
  timeline_slab slab_;                     // before timelines_: outlives its listener
  mutable timeline_cache timelines_;
  work_queue<batch, Clock> queue_;

  mutable std::mutex lag_mutex_;
  std::condition_variable_any drained_;
  std::map<std::uint64_t, typename Clock::time_point> pending_;  // unapplied batches by seq
  std::size_t pending_writes_ = 0;
  std::uint64_t last_seq_ = 0;

  relaxed_counter posts_count_;
  relaxed_counter duplicate_posts_;
  relaxed_counter removals_;
  relaxed_counter reads_;
  relaxed_counter timeline_writes_;
  relaxed_counter deliveries_;
  relaxed_counter skipped_;
  relaxed_counter pulled_;
  relaxed_counter backfill_writes_;
  relaxed_counter rebuilds_;
  relaxed_counter read_work_;
  relaxed_counter mode_switches_;
  relaxed_counter fan_out_errors_;

  std::vector<std::jthread> workers_;  // last: stopped and joined first
};

}  // namespace scaling
