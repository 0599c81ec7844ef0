// scaling/replication/backup.hpp: base backups plus an archived write log, restored to any
// point in time; the recovery point and recovery time of losing the primary, measured.
//
// What it is: `backup_archive<Key, Value, Clock>`, the "primary DB with backups" of stage 1,
// in the shape PostgreSQL's continuous archiving has: every committed write is appended to the
// current log segment; a segment is shipped to the archive when it fills or when
// `archive_timeout` has passed since its first entry (archive_timeout bounds the data a lost
// primary takes with it); a base backup (a full copy) is taken every `base_backup_interval`.
// `restore(target)` rebuilds the data as of any instant covered by the archive: the newest base
// backup taken at or before it, plus the shipped writes up to it. `lose_primary()` is the
// disaster: the unshipped segment is gone, and the report says how many writes and how much
// time were lost (the recovery point) and how long the restore takes at the configured rates
// (the recovery time).
//
// When to pick it: to size backup settings against a recovery point objective (RPO) and a
// recovery time objective (RTO), in tests, examples and the lab. A real database does the
// archiving (archive_command, pgBackRest, WAL-G); this block models it, it does not store files.
//
//   scaling::manual_clock clock;
//   scaling::backup_archive<std::string, int, scaling::manual_clock> backups{
//       {.base_backup_interval = 24h, .archive_timeout = 60s}, clock};
//   backups.record(1, "likes", 10);          // after each committed write, with its position
//   clock.advance(90s); backups.tick();      // ships the segment (60 s passed)
//   auto loss = backups.lose_primary();      // nothing lost: the segment was shipped
//   auto data = backups.restore(clock.now()).data;
//
// Thread safety: every member may be called concurrently (one internal mutex).
// Complexity: record O(1) amortised; a base backup copies the data, O(keys); restore
// O(keys of the base backup + writes replayed). Memory: the retained base backups and the
// writes archived since the oldest of them.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include <scaling/core/clock.hpp>
#include <scaling/core/deadline.hpp>
#include <scaling/core/error.hpp>
#include <scaling/replication/replica.hpp>

namespace scaling {

struct backup_options {
  // A full copy this often (the first one at the first tick()).
  std::chrono::nanoseconds base_backup_interval = std::chrono::hours{24};
  // A segment is shipped once this much time has passed since its first write...
  std::chrono::nanoseconds archive_timeout = std::chrono::seconds{60};
  // ... or once it holds this many writes.
  std::size_t segment_writes = 16'384;
  // The recovery-time model: keys copied back per second from a base backup, and archived
  // writes replayed per second.
  double restore_keys_per_second = 200'000.0;
  double replay_writes_per_second = 50'000.0;
  // Base backups kept; the archived writes older than the oldest kept one are dropped with it,
  // so memory stays bounded and restores reach back that far.
  std::size_t retained_base_backups = 2;
};

// What restore() rebuilt.
template <class Key, class Value>
struct restore_result {
  std::unordered_map<Key, Value> data;
  log_position position = 0;             // of the last write replayed (or the backup's)
  std::size_t base_backup_keys = 0;      // keys copied from the base backup
  std::size_t writes_replayed = 0;       // archived writes applied on top
  std::chrono::nanoseconds duration{0};  // the recovery time the rates give
  bool covered = true;  // false: no base backup at or before the target (data is empty)
};

// What losing the primary cost.
struct primary_loss_report {
  std::uint64_t writes_lost = 0;               // recorded but never shipped
  log_position last_archived = 0;              // the newest position the archive holds
  std::chrono::nanoseconds recovery_point{0};  // loss time - commit time of the oldest lost write
                                               // (0 when nothing was lost)
};

struct backup_stats {
  std::uint64_t writes_recorded = 0;
  std::uint64_t writes_archived = 0;
  std::uint64_t segments_shipped = 0;
  std::uint64_t base_backups = 0;
  std::uint64_t writes_pending = 0;  // in the open segment: what a primary loss now would lose
};

template <class Key, class Value, clock_source Clock = std::chrono::steady_clock>
class backup_archive {
 public:
  using time_point = typename Clock::time_point;

  // Throws: scaling::invalid_argument if an interval is <= 0, segment_writes is 0, or a rate
  // is not > 0.
  explicit backup_archive(backup_options options = {}, Clock clock = Clock{})
      : options_(checked(options)), clock_(std::move(clock)) {}

  // A committed write (value) or delete (nullopt) at `position`, committed now. Positions must
  // increase. Ships the segment when it fills.
  // Throws: scaling::invalid_argument if position is not above the last recorded one.
  void record(log_position position, const Key& key, std::optional<Value> value) {
    std::lock_guard lock{mutex_};
    if (position <= last_recorded_)
      detail::throw_invalid_argument("scaling::backup_archive::record", "position",
                                     "must increase from one write to the next", position);
    const time_point now = clock_.now();
    open_.push_back(entry{position, now, key, value});
    if (value)
      live_[key] = *value;
    else
      live_.erase(key);
    last_recorded_ = position;
    ++recorded_;
    if (open_.size() >= options_.segment_writes) ship_locked();
  }

  // Ships a segment whose timeout has passed and takes a base backup when one is due. Call it
  // periodically (a timer, or the lab's events); record() alone ships only full segments.
  void tick() {
    std::lock_guard lock{mutex_};
    const time_point now = clock_.now();
    if (!open_.empty() && now >= saturating_add(open_.front().committed, options_.archive_timeout))
      ship_locked();
    if (!last_base_ || now >= saturating_add(*last_base_, options_.base_backup_interval))
      base_backup_locked(now);
  }

  // Takes a base backup now (as pg_basebackup would), shipping the open segment first so the
  // backup and the archive agree.
  void base_backup() {
    std::lock_guard lock{mutex_};
    ship_locked();
    base_backup_locked(clock_.now());
  }

  // The primary is lost now: the open segment never reaches the archive.
  primary_loss_report lose_primary() {
    std::lock_guard lock{mutex_};
    primary_loss_report report;
    report.writes_lost = open_.size();
    report.last_archived = archived_.empty() ? (bases_.empty() ? 0 : bases_.back().position)
                                             : archived_.back().position;
    if (!open_.empty()) report.recovery_point = clock_.now() - open_.front().committed;
    open_.clear();
    // The live copy goes with the primary; what survives is what restore() rebuilds.
    live_ = restore_locked(clock_.now()).data;
    last_recorded_ = report.last_archived;
    return report;
  }

  // The data as of `target`: the newest base backup at or before it, plus the archived writes
  // committed at or before it. Writes still in the open segment are not in the archive.
  [[nodiscard]] restore_result<Key, Value> restore(time_point target) const {
    std::lock_guard lock{mutex_};
    return restore_locked(target);
  }

  [[nodiscard]] backup_stats stats() const {
    std::lock_guard lock{mutex_};
    return {recorded_, archived_count_, segments_, static_cast<std::uint64_t>(bases_.size()),
            static_cast<std::uint64_t>(open_.size())};
  }

 private:
  struct entry {
    log_position position;
    time_point committed;
    Key key;
    std::optional<Value> value;
  };
  struct base {
    time_point taken;
    log_position position;
    std::unordered_map<Key, Value> data;
  };

  static backup_options checked(backup_options o) {
    const char* who = "scaling::backup_archive";
    if (o.base_backup_interval <= std::chrono::nanoseconds::zero())
      detail::throw_invalid_argument(who, "base_backup_interval", "must be > 0 ns",
                                     o.base_backup_interval.count());
    if (o.archive_timeout <= std::chrono::nanoseconds::zero())
      detail::throw_invalid_argument(who, "archive_timeout", "must be > 0 ns",
                                     o.archive_timeout.count());
    if (o.segment_writes == 0)
      detail::throw_invalid_argument(who, "segment_writes", "must be >= 1", o.segment_writes);
    if (!(o.restore_keys_per_second > 0))
      detail::throw_invalid_argument(who, "restore_keys_per_second", "must be > 0",
                                     o.restore_keys_per_second);
    if (o.retained_base_backups == 0)
      detail::throw_invalid_argument(who, "retained_base_backups", "must be >= 1",
                                     o.retained_base_backups);
    if (!(o.replay_writes_per_second > 0))
      detail::throw_invalid_argument(who, "replay_writes_per_second", "must be > 0",
                                     o.replay_writes_per_second);
    return o;
  }

  void ship_locked() {
    if (open_.empty()) return;
    archived_count_ += open_.size();
    for (auto& e : open_)
      archived_.push_back(std::move(e));
    open_.clear();
    ++segments_;
  }

  void base_backup_locked(time_point now) {
    // The backup holds the archived state (a base backup is consistent once the log up to its
    // end is archived): ship first, so the live copy and the archive agree.
    ship_locked();
    bases_.push_back(base{now, last_recorded_, live_});
    last_base_ = now;
    if (bases_.size() > options_.retained_base_backups) {
      bases_.erase(bases_.begin(),
                   bases_.begin() +
                       static_cast<std::ptrdiff_t>(bases_.size() - options_.retained_base_backups));
      const log_position oldest = bases_.front().position;
      const auto keep =
          std::upper_bound(archived_.begin(), archived_.end(), oldest,
                           [](log_position p, const entry& e) { return p < e.position; });
      archived_.erase(archived_.begin(), keep);
    }
  }

  restore_result<Key, Value> restore_locked(time_point target) const {
    restore_result<Key, Value> r;
    const base* from = nullptr;
    for (const base& b : bases_)
      if (b.taken <= target) from = &b;
    if (from == nullptr) {
      r.covered = false;
      return r;
    }
    r.data = from->data;
    r.position = from->position;
    r.base_backup_keys = from->data.size();
    const auto first =
        std::upper_bound(archived_.begin(), archived_.end(), from->position,
                         [](log_position p, const entry& e) { return p < e.position; });
    for (auto it = first; it != archived_.end() && it->committed <= target; ++it) {
      if (it->value)
        r.data[it->key] = *it->value;
      else
        r.data.erase(it->key);
      r.position = it->position;
      ++r.writes_replayed;
    }
    const double seconds =
        static_cast<double>(r.base_backup_keys) / options_.restore_keys_per_second +
        static_cast<double>(r.writes_replayed) / options_.replay_writes_per_second;
    r.duration = std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::duration<double>(seconds));
    return r;
  }

  backup_options options_;
  Clock clock_;
  mutable std::mutex mutex_;
  std::vector<entry> open_;              // the segment being written
  std::vector<entry> archived_;          // shipped, in position order
  std::vector<base> bases_;              // in time order
  std::unordered_map<Key, Value> live_;  // the primary's data, for base backups
  std::optional<time_point> last_base_;
  log_position last_recorded_ = 0;
  std::uint64_t recorded_ = 0;
  std::uint64_t archived_count_ = 0;
  std::uint64_t segments_ = 0;
};

}  // namespace scaling
