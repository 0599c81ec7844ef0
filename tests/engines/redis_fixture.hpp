// tests/engines/redis_fixture.hpp: a GoogleTest fixture with a standalone redis-server on a
// free loopback port for each test (skipped with a message where redis-server is not installed).
#pragma once

#include <cstdint>
#include <string>

#include <gtest/gtest.h>

#include <scaling/redis/connection.hpp>

#include "engines/servers.hpp"

namespace engines_test {

class redis_server_test : public ::testing::Test {
 protected:
  void SetUp() override {
    binary_ = find_program("redis-server");
    if (binary_.empty()) GTEST_SKIP() << "redis-server is not installed (scripts/deps installs it)";
    port_ = free_port();
    ASSERT_TRUE(server_.start(redis_argv(binary_, port_, dir_.path()), port_));
  }
  [[nodiscard]] scaling::redis::endpoint where() const { return {"127.0.0.1", port_}; }

  std::string binary_;
  scratch_dir dir_;
  server server_;
  std::uint16_t port_ = 0;
};

}  // namespace engines_test
