#include <stdexcept>

#include <gtest/gtest.h>

#include <scaling/replication/consistency.hpp>

namespace {

TEST(ReadSession, MinPositionIsTheLatestOfWritesAndReads) {
  scaling::read_session session;
  EXPECT_EQ(session.min_position(), 0u);
  session.record_write({7, 40});
  EXPECT_EQ(session.min_position(), 40u);
  session.record_read(7, 55);  // read from a member ahead of our write: monotonic from there
  EXPECT_EQ(session.min_position(), 55u);
  session.record_write({7, 50});  // an older token never lowers the requirement
  EXPECT_EQ(session.min_position(), 55u);
  EXPECT_EQ(session.last_write(), 50u);
  EXPECT_EQ(session.origin(), 7u);
}

TEST(ReadSession, RejectsTokensFromAnotherOriginAndEmptyTokens) {
  scaling::read_session session;
  session.record_write({3, 1});
  try {
    session.record_write({4, 2});
    FAIL();
  } catch (const scaling::invalid_argument& e) {
    EXPECT_EQ(e.parameter(), "token");
    EXPECT_NE(std::string{e.what()}.find("got 4"), std::string::npos) << e.what();
  }
  EXPECT_THROW(session.record_read(5, 9), std::invalid_argument);
  EXPECT_THROW(session.record_write({}), std::invalid_argument);
  EXPECT_NO_THROW(session.check_origin(3));
  EXPECT_EQ(session.min_position(), 1u);  // failed calls changed nothing
}

TEST(ReadOptions, DefaultsAreReplicaPreferredWithPrimaryFallback) {
  const scaling::read_options o;
  EXPECT_EQ(o.mode, scaling::read_mode::replica_preferred);
  EXPECT_EQ(o.on_stale, scaling::stale_fallback::primary);
  EXPECT_FALSE(o.max_staleness.has_value());
  EXPECT_EQ(o.min_position, 0u);
}

}  // namespace
