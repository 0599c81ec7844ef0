#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/sharding/ketama_ring.hpp>

#ifdef SCALING_HAVE_LIBMEMCACHED
#include <libmemcached/memcached.h>
#endif

namespace {

TEST(KetamaRing, BadInput) {
  scaling::ketama_ring ring;
  EXPECT_THROW(ring.add("h:1", 0), scaling::invalid_argument);
  EXPECT_THROW(ring.add(":11211"), scaling::invalid_argument);
  EXPECT_THROW(ring.add("h:0"), scaling::invalid_argument);
  EXPECT_THROW(ring.add("h:70000"), scaling::invalid_argument);
  EXPECT_THROW(ring.add("h:12x"), scaling::invalid_argument);
  ring.add("h");
  EXPECT_THROW(ring.add("h:11211"), scaling::invalid_argument);  // the same server
  EXPECT_THROW(ring.remove("other"), scaling::invalid_argument);
  EXPECT_EQ(ring.size(), 1U);
  ring.remove("h:11211");
  EXPECT_THROW((void)ring.node_for("k"), scaling::invalid_argument);
}

// Random server sets, weights and keys, compared with Debian's libmemcached itself.
TEST(KetamaRing, AgreesWithLibmemcachedOnRandomServersAndKeys) {
#ifndef SCALING_HAVE_LIBMEMCACHED
  GTEST_SKIP() << "libmemcached not found (Debian: libmemcached-dev): cross-check skipped";
#else
  std::mt19937_64 rng{20240601};
  for (int round = 0; round < 12; ++round) {
    const int servers = 1 + static_cast<int>(rng() % 24);
    memcached_st* memc = memcached_create(nullptr);
    ASSERT_NE(memc, nullptr);
    std::vector<std::pair<std::string, std::uint32_t>> list;
    for (int i = 0; i < servers; ++i) {
      const std::string host = "10." + std::to_string(rng() % 256) + "." + std::to_string(i) + ".1";
      const auto port = static_cast<in_port_t>(rng() % 3 == 0 ? 11211 : 11000 + rng() % 1000);
      const auto weight = static_cast<std::uint32_t>(round % 2 == 0 ? 1 : 1 + rng() % 1000);
      ASSERT_EQ(memcached_server_add_with_weight(memc, host.c_str(), port, weight),
                MEMCACHED_SUCCESS);
      list.emplace_back(host + ":" + std::to_string(port), weight);
    }
    ASSERT_EQ(memcached_behavior_set(memc, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1),
              MEMCACHED_SUCCESS);
    const scaling::ketama_ring ring{list};
    for (int k = 0; k < 2000; ++k) {
      std::string key = "key:" + std::to_string(rng());
      key.resize(1 + rng() % 40, 'x');
      const std::uint32_t index = memcached_generate_hash(memc, key.data(), key.size());
      ASSERT_LT(index, list.size());
      ASSERT_EQ(ring.node_for(key), list[index].first)
          << "round " << round << " servers " << servers << " key " << key;
    }
    memcached_free(memc);
  }
#endif
}

}  // namespace
