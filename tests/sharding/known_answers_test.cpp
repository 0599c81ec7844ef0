// Known-answer vectors from the published sources (see the per-test comments).
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/sharding/hash_ring.hpp>
#include <scaling/sharding/jump_hash.hpp>
#include <scaling/sharding/ketama_ring.hpp>
#include <scaling/sharding/maglev.hpp>
#include <scaling/sharding/redis_cluster.hpp>

namespace {

// Lamping & Veach 2014 and the Guava / Go ports.
TEST(JumpHash, PublishedVectors) {
  EXPECT_EQ(scaling::jump_hash(1, 1), 0);
  EXPECT_EQ(scaling::jump_hash(42, 57), 43);
  EXPECT_EQ(scaling::jump_hash(0xDEAD10CCULL, 666), 361);
  EXPECT_EQ(scaling::jump_hash(256, 1024), 520);
  const std::vector<std::pair<std::uint64_t, std::vector<std::int32_t>>> series = {
      {1, {0, 0, 0, 0, 0, 0, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 17, 17}},
      {0xdeadbeefULL, {0, 1, 2, 3, 3, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 16, 16, 16}},
      {0x0ddc0ffeebadf00dULL, {0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 15, 15, 15, 15}},
  };
  for (const auto& [key, expected] : series) {
    for (std::size_t n = 1; n <= expected.size(); ++n) {
      EXPECT_EQ(scaling::jump_hash(key, static_cast<std::int32_t>(n)), expected[n - 1])
          << "key " << key << " buckets " << n;
    }
  }
}

// The Redis cluster specification and `CLUSTER KEYSLOT`.
TEST(RedisClusterSlot, PublishedVectors) {
  EXPECT_EQ(scaling::crc16_xmodem("123456789"), 0x31C3);
  const std::vector<std::pair<std::string_view, std::uint16_t>> vectors = {
      {"somekey", 11058},          {"foo{hash_tag}", 2515}, {"bar{hash_tag}", 2515},
      {"{user1}.following", 8106}, {"foo", 12182},          {"bar", 5061},
      {"foo{bar}{zap}", 5061},     {"foo{}{bar}", 8363},    {"foo{{bar}}zap", 4015},
      {"user:1000", 1649},
  };
  for (const auto& [key, slot] : vectors) {
    EXPECT_EQ(scaling::redis_cluster_slot(key), slot) << key;
  }
  static_assert(scaling::redis_cluster_slot("foo") == 12182, "usable in constant expressions");
}

TEST(RedisClusterSlot, HashTagRule) {
  EXPECT_EQ(scaling::redis_hash_tag("{user:42}:cart"), "user:42");
  EXPECT_EQ(scaling::redis_hash_tag("foo{}{bar}"), "foo{}{bar}");  // empty tag: whole key
  EXPECT_EQ(scaling::redis_hash_tag("foo{bar"), "foo{bar");        // no closing brace
  EXPECT_EQ(scaling::redis_hash_tag("foo{{bar}}zap"), "{bar");     // first '}' after first '{'
  EXPECT_EQ(scaling::redis_cluster_slot("{user:42}:cart"),
            scaling::redis_cluster_slot("{user:42}:profile"));
}

// libmemcached 1.1.4's ketama fixture (tests/ketama_test_cases.h and the weighted test).
TEST(KetamaRing, LibmemcachedWeightedFixture) {
  const std::vector<std::pair<std::string, std::uint32_t>> servers = {
      {"10.0.1.1", 600},  {"10.0.1.2", 300}, {"10.0.1.3", 200}, {"10.0.1.4", 350},
      {"10.0.1.5", 1000}, {"10.0.1.6", 800}, {"10.0.1.7", 950}, {"10.0.1.8", 100}};
  const scaling::ketama_ring ring{servers};
  EXPECT_EQ(ring.point_count(), 1264U);
  const std::vector<std::pair<std::string, std::size_t>> points = {
      {"10.0.1.1", 176}, {"10.0.1.2", 88},  {"10.0.1.3", 56},  {"10.0.1.4", 104},
      {"10.0.1.5", 296}, {"10.0.1.6", 236}, {"10.0.1.7", 280}, {"10.0.1.8", 28}};
  for (const auto& [server, count] : points)
    EXPECT_EQ(ring.point_count(server), count) << server;
  EXPECT_EQ(ring.node_for("SVa_]_V41)"), "10.0.1.7");
  EXPECT_EQ(ring.node_for("30C1*Z*S/_"), "10.0.1.2");
  EXPECT_EQ(ring.node_for("ERR:EC58G>"), "10.0.1.7");
  EXPECT_EQ(ring.node_for("1I=cTMNTKF"), "10.0.1.5");
  // Past the last point: wraps to the first.
  EXPECT_EQ(scaling::ketama_hash("VDEAAAAA"), 0xfffcd1b5U);
  EXPECT_EQ(ring.point_position(ring.point_count() - 1), 0xfffbdf7fU);
  EXPECT_EQ(ring.node_for("VDEAAAAA"), "10.0.1.3");
  EXPECT_EQ(ring.point_server(0), "10.0.1.3");
}

TEST(KetamaRing, ThreeServersWithPorts) {
  scaling::ketama_ring ring{"127.0.0.1:11211", "127.0.0.1:11212", "127.0.0.1:11213"};
  EXPECT_EQ(ring.point_count(), 480U);
  for (std::string_view key : {"a", "b", "c", "bar", "baz"}) {
    EXPECT_EQ(ring.node_for(key), "127.0.0.1:11212") << key;
  }
  for (std::string_view key : {"foo", "user:1", "hello", "world"}) {
    EXPECT_EQ(ring.node_for(key), "127.0.0.1:11211") << key;
  }
  EXPECT_EQ(ring.node_for("user:2"), "127.0.0.1:11213");
}

TEST(KetamaRing, Md5ByteOrderMatchesRfc1321) {
  // MD5("") = d41d8cd98f00b204e9800998ecf8427e: the first little-endian word is 0xd98c1dd4.
  EXPECT_EQ(scaling::ketama_hash(""), 0xd98c1dd4U);
  // MD5("abc") = 900150983cd24fb0...
  EXPECT_EQ(scaling::ketama_hash("abc"), 0x98500190U);
}

// Envoy's ring hash test (ring_hash_lb_test.cc): XXH64 over "<host>_<i>", 2 points per host.
TEST(HashRing, EnvoyRingVectors) {
  std::vector<std::string> hosts;
  for (int port = 90; port <= 95; ++port)
    hosts.push_back("127.0.0.1:" + std::to_string(port));
  const scaling::hash_ring<std::string, scaling::xxh64_hash> ring{
      hosts, scaling::ring_config{.points_per_node = 2}};
  const std::vector<std::pair<std::uint64_t, std::string>> expected = {
      {833437586790550860ULL, ":94"},   {928266305478181108ULL, ":92"},
      {1033482794131418490ULL, ":90"},  {3551244743356806947ULL, ":95"},
      {3851675632748031481ULL, ":93"},  {5583722120771150861ULL, ":91"},
      {6311230543546372928ULL, ":91"},  {7700377290971790572ULL, ":93"},
      {13144177310400110813ULL, ":95"}, {13444792449719432967ULL, ":92"},
      {15516499411664133160ULL, ":94"}, {16117243373044804889ULL, ":90"}};
  ASSERT_EQ(ring.point_count(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(ring.point_position(i), expected[i].first) << i;
    EXPECT_EQ(ring.nodes()[ring.point_owner(i)], "127.0.0.1" + expected[i].second) << i;
  }
  EXPECT_EQ(ring.node_for_hash(0), "127.0.0.1:94");
  EXPECT_EQ(ring.node_for_hash(UINT64_MAX), "127.0.0.1:94");              // wraps
  EXPECT_EQ(ring.node_for_hash(3551244743356806947ULL), "127.0.0.1:95");  // a point is inclusive
  EXPECT_EQ(ring.node_for_hash(3551244743356806948ULL), "127.0.0.1:93");
}

// Envoy's Maglev test (maglev_lb_test.cc), table size 7.
TEST(Maglev, EnvoyTableVectors) {
  std::vector<std::string> hosts;
  for (int port = 95; port >= 90; --port)
    hosts.push_back("127.0.0.1:" + std::to_string(port));
  const scaling::maglev<std::string, scaling::xxh64_hash> with_ip{hosts, {.table_size = 7}};
  EXPECT_EQ(with_ip.table(), (std::vector<std::uint32_t>{2, 4, 0, 1, 5, 0, 3}));
  const scaling::maglev<std::string, scaling::xxh64_hash> short_names{
      {"90", "91", "92", "93", "94", "95"}, {.table_size = 7}};
  EXPECT_EQ(short_names.table(), (std::vector<std::uint32_t>{2, 5, 0, 3, 4, 1, 0}));
}

}  // namespace
