#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include <scaling/replication/backup.hpp>

namespace {

using namespace std::chrono_literals;
using archive = scaling::backup_archive<std::string, int, scaling::manual_clock>;

TEST(BackupArchive, ShippedSegmentsSurviveThePrimary) {
  scaling::manual_clock clock;
  archive backups{{.archive_timeout = 60s}, clock};
  backups.tick();  // the first base backup (empty)
  backups.record(1, "a", 1);
  clock.advance(10s);
  backups.record(2, "b", 2);
  clock.advance(55s);  // 65 s after the segment's first write
  backups.tick();
  const auto loss = backups.lose_primary();
  EXPECT_EQ(loss.writes_lost, 0U);
  EXPECT_EQ(loss.recovery_point, 0s);
  EXPECT_EQ(loss.last_archived, 2U);
  const auto r = backups.restore(clock.now());
  EXPECT_EQ(r.data.at("a"), 1);
  EXPECT_EQ(r.data.at("b"), 2);
}

// The recovery point: what the open segment held when the primary died, and for how long.
TEST(BackupArchive, TheOpenSegmentIsLostAndTheRecoveryPointMeasured) {
  scaling::manual_clock clock;
  archive backups{{.archive_timeout = 60s}, clock};
  backups.tick();
  backups.record(1, "a", 1);
  clock.advance(61s);
  backups.tick();  // shipped
  clock.advance(9s);
  backups.record(2, "a", 2);  // t = 70 s
  clock.advance(10s);
  backups.record(3, "b", 3);  // t = 80 s
  clock.advance(20s);
  backups.tick();  // t = 100 s: 30 s since the open segment began, below the 60 s timeout
  EXPECT_EQ(backups.stats().writes_pending, 2U);
  const auto loss = backups.lose_primary();
  EXPECT_EQ(loss.writes_lost, 2U);
  EXPECT_EQ(loss.recovery_point, 30s);
  EXPECT_EQ(loss.last_archived, 1U);
  const auto r = backups.restore(clock.now());
  EXPECT_EQ(r.data.at("a"), 1) << "the lost write must not reappear";
  EXPECT_FALSE(r.data.contains("b"));
  // Writing resumes after the archived position.
  backups.record(2, "c", 4);
  EXPECT_EQ(backups.stats().writes_pending, 1U);
}

TEST(BackupArchive, RestoresToAnyPointInTime) {
  scaling::manual_clock clock;
  archive backups{{.base_backup_interval = 1h, .archive_timeout = 1s}, clock};
  backups.record(1, "a", 1);
  backups.tick();  // t = 0: base backup {a: 1}
  clock.advance(100s);
  backups.record(2, "a", 2);
  clock.advance(100s);
  backups.record(3, "a", 3);
  backups.record(4, "gone", 0);
  backups.record(5, "gone", std::nullopt);
  clock.advance(2s);
  backups.tick();
  EXPECT_EQ(backups.restore(scaling::manual_clock::time_point{50s}).data.at("a"), 1);
  EXPECT_EQ(backups.restore(scaling::manual_clock::time_point{150s}).data.at("a"), 2);
  const auto latest = backups.restore(clock.now());
  EXPECT_EQ(latest.data.at("a"), 3);
  EXPECT_FALSE(latest.data.contains("gone"));
  EXPECT_EQ(latest.position, 5U);
  EXPECT_EQ(latest.writes_replayed, 4U);
  EXPECT_EQ(latest.base_backup_keys, 1U);
}

TEST(BackupArchive, NothingToRestoreBeforeTheFirstBaseBackup) {
  scaling::manual_clock clock{scaling::manual_clock::time_point{10s}};
  archive backups{{}, clock};
  backups.tick();
  const auto r = backups.restore(scaling::manual_clock::time_point{5s});
  EXPECT_FALSE(r.covered);
  EXPECT_TRUE(r.data.empty());
}

TEST(BackupArchive, AFullSegmentShipsAtOnce) {
  scaling::manual_clock clock;
  archive backups{{.archive_timeout = 1h, .segment_writes = 3}, clock};
  backups.tick();
  for (int i = 1; i <= 7; ++i)
    backups.record(static_cast<scaling::log_position>(i), "k", i);
  const auto s = backups.stats();
  EXPECT_EQ(s.segments_shipped, 2U);
  EXPECT_EQ(s.writes_archived, 6U);
  EXPECT_EQ(s.writes_pending, 1U);
}

// The recovery time: keys copied from the base backup and writes replayed, at the rates given.
TEST(BackupArchive, RecoveryTimeFollowsTheRates) {
  scaling::manual_clock clock;
  archive backups{
      {.archive_timeout = 1s, .restore_keys_per_second = 100.0, .replay_writes_per_second = 10.0},
      clock};
  for (int i = 1; i <= 200; ++i)
    backups.record(static_cast<scaling::log_position>(i), std::to_string(i), i);
  backups.base_backup();  // 200 keys: 2 s to copy back
  for (int i = 201; i <= 250; ++i)
    backups.record(static_cast<scaling::log_position>(i), "hot", i);
  clock.advance(2s);
  backups.tick();  // 50 writes to replay: 5 s
  EXPECT_EQ(backups.restore(clock.now()).duration, 7s);
}

TEST(BackupArchive, BadInputIsNamed) {
  scaling::manual_clock clock;
  try {
    archive backups{{.archive_timeout = 0s}, clock};
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string{e.what()},
              "scaling::backup_archive: archive_timeout must be > 0 ns (got 0)");
  }
  archive backups{{}, clock};
  backups.record(5, "a", 1);
  try {
    backups.record(5, "a", 2);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string{e.what()},
              "scaling::backup_archive::record: position must increase from one write to the next "
              "(got 5)");
  }
}

}  // namespace

namespace {

TEST(BackupArchive, RetentionDropsOldBackupsAndTheirLog) {
  scaling::manual_clock clock;
  archive backups{{.base_backup_interval = 10s, .archive_timeout = 1s, .retained_base_backups = 2},
                  clock};
  int position = 0;
  for (int round = 0; round < 5; ++round) {
    backups.tick();  // a base backup at t = 0, 10, 20, 30, 40 s
    for (int i = 0; i < 3; ++i) {
      ++position;
      backups.record(static_cast<scaling::log_position>(position), "k", position);
    }
    clock.advance(10s);
  }
  backups.tick();
  EXPECT_EQ(backups.stats().base_backups, 2U);
  EXPECT_FALSE(backups.restore(scaling::manual_clock::time_point{35s}).covered);
  const auto r = backups.restore(clock.now());
  EXPECT_TRUE(r.covered);
  EXPECT_EQ(r.data.at("k"), 15);
}

}  // namespace
