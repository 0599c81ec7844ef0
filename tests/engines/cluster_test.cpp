// The Redis Cluster client against a real 3-master cluster (redis-cli --cluster create):
// routing by slot and hash tag, a slot resharded during traffic (ASK, TRYAGAIN, then MOVED,
// no lost write), a node killed and restarted.
#include <array>
#include <chrono>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/caching/two_level_cache.hpp>
#include <scaling/redis/cluster.hpp>

#include "engines/servers.hpp"

namespace {

using namespace std::chrono_literals;
namespace redis = scaling::redis;

static_assert(scaling::remote_cache_tier<redis::cluster_client>);

// The cluster's waits (a node coming back, slots agreed) are bounded at 10 s.
template <class F>
bool eventually(F done) {
  return engines_test::eventually(done, 10s);
}

int run_and_wait(std::vector<std::string> argv, const std::string& log) {
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(a.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Three cluster-enabled masters, created once for the suite.
class RedisCluster : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string server = engines_test::find_program("redis-server");
    const std::string cli = engines_test::find_program("redis-cli");
    if (server.empty() || cli.empty()) {
      skip_ = "redis-server or redis-cli is not installed (scripts/deps installs them)";
      return;
    }
    dir_ = std::make_unique<engines_test::scratch_dir>();
    std::vector<std::string> create{cli, "--cluster", "create"};
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      const auto port = engines_test::free_port();
      nodes_[i] = std::make_unique<engines_test::server>();
      const std::string conf = dir_->path() + "/nodes-" + std::to_string(port) + ".conf";
      if (!nodes_[i]->start(engines_test::redis_argv(
                                server, port, dir_->path(),
                                {"--cluster-enabled", "yes", "--cluster-config-file", conf,
                                 "--cluster-node-timeout", "5000",
                                 // The bus port is port + 10000 unless given (past 65535
                                 // for high ports, or taken): ask the kernel for one.
                                 "--cluster-port", std::to_string(engines_test::free_port())}),
                            port)) {
        skip_ = "a cluster node did not start";
        return;
      }
      create.push_back("127.0.0.1:" + std::to_string(port));
    }
    create.insert(create.end(), {"--cluster-replicas", "0", "--cluster-yes"});
    const std::string log = dir_->path() + "/create.log";
    if (run_and_wait(create, log) != 0) {
      std::ifstream in{log};
      const std::string output{std::istreambuf_iterator<char>{in}, {}};
      skip_ = "redis-cli --cluster create failed: " +
              output.substr(output.size() > 400 ? output.size() - 400 : 0);
      return;
    }
    const bool ok = eventually([] {
      for (const auto& n : nodes_) {
        try {
          redis::connection c{{"127.0.0.1", n->port()}};
          const auto info = c.execute({"CLUSTER", "INFO"});
          if (info.str().find("cluster_state:ok") == std::string_view::npos) return false;
        } catch (const redis::error&) {
          return false;
        }
      }
      return true;
    });
    if (!ok) skip_ = "the cluster did not reach cluster_state:ok";
  }
  static void TearDownTestSuite() {
    for (auto& n : nodes_)
      n.reset();
    dir_.reset();
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
  }
  static redis::endpoint node(std::size_t i) { return {"127.0.0.1", nodes_[i]->port()}; }
  static std::size_t index_of(const std::string& name) {
    for (std::size_t i = 0; i < nodes_.size(); ++i)
      if (node(i).to_string() == name) return i;
    return nodes_.size();
  }
  static std::string id_of(std::size_t i) {
    redis::connection c{node(i)};
    return std::string{c.execute({"CLUSTER", "MYID"}).str()};
  }

  static inline std::string skip_;
  static inline std::unique_ptr<engines_test::scratch_dir> dir_;
  static inline std::array<std::unique_ptr<engines_test::server>, 3> nodes_;
};

TEST_F(RedisCluster, RoutesBySlotAndKeysWithOneHashTagShareANode) {
  redis::cluster_client cluster{{node(0)}};
  EXPECT_EQ(cluster.slot_map().size(), 3U);
  for (int i = 0; i < 50; ++i)
    cluster.set("key:" + std::to_string(i), std::to_string(i), 0ms);
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(cluster.get("key:" + std::to_string(i)), std::to_string(i));
  EXPECT_EQ(cluster.stats().moved, 0U);  // the map was right: no redirection
  // A multi-key command works when the keys share a hash tag (else CROSSSLOT).
  const auto r = cluster.execute("{user:42}", {"MSET", "{user:42}:a", "1", "{user:42}:b", "2"});
  EXPECT_EQ(r.str(), "OK");
  const auto many = cluster.get_many({"{user:42}:a", "{user:42}:b", "key:7", "absent"});
  EXPECT_EQ(many[0], "1");
  EXPECT_EQ(many[1], "2");
  EXPECT_EQ(many[2], "7");
  EXPECT_EQ(many[3], std::nullopt);
}

TEST_F(RedisCluster, ASlotReshardedDuringTrafficLosesNoWrite) {
  redis::cluster_client cluster{{node(0)}, {.tryagain_retries = 2, .tryagain_pause = 1ms}};
  const std::string tag = "{moving}";
  const std::uint16_t slot = scaling::redis_cluster_slot(tag);
  const std::size_t src = index_of(cluster.node_for(slot));
  ASSERT_LT(src, 3U);
  const std::size_t dst = (src + 1) % 3;
  const std::size_t third = (src + 2) % 3;
  auto key = [&](int i) { return tag + ":" + std::to_string(i); };
  for (int i = 0; i < 50; ++i)
    cluster.set(key(i), "v" + std::to_string(i), 0ms);

  redis::connection on_src{node(src)};
  redis::connection on_dst{node(dst)};
  redis::connection on_third{node(third)};
  const std::string src_id = id_of(src);
  const std::string dst_id = id_of(dst);
  const std::string slot_text = std::to_string(slot);
  ASSERT_EQ(on_dst.execute({"CLUSTER", "SETSLOT", slot_text, "IMPORTING", src_id}).str(), "OK");
  ASSERT_EQ(on_src.execute({"CLUSTER", "SETSLOT", slot_text, "MIGRATING", dst_id}).str(), "OK");
  auto migrate = [&](int from, int to) {
    std::vector<std::string> args{"MIGRATE", "127.0.0.1", std::to_string(node(dst).port), "", "0",
                                  "5000",    "KEYS"};
    for (int i = from; i < to; ++i)
      args.push_back(key(i));
    const auto r = on_src.execute_range(args);
    ASSERT_EQ(r.str(), "OK") << r.str();
  };
  migrate(0, 25);

  // Traffic while the slot is half moved: new keys and moved keys are answered with ASK.
  for (int i = 50; i < 100; ++i)
    cluster.set(key(i), "v" + std::to_string(i), 0ms);
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(cluster.get(key(i)), "v" + std::to_string(i)) << key(i);
  EXPECT_GT(cluster.stats().asked, 0U);
  EXPECT_EQ(cluster.node_for(slot), node(src).to_string());  // ASK does not change the map
  // A multi-key read whose keys are split between the two nodes: TRYAGAIN, retried, then
  // returned as the error reply it is.
  const auto split = cluster.execute(tag, {"MGET", key(0), key(30)});
  EXPECT_EQ(split.error_code(), "TRYAGAIN") << split.str();
  EXPECT_EQ(cluster.stats().tryagain, 3U);

  migrate(25, 50);
  for (auto* c : {&on_dst, &on_src, &on_third})
    ASSERT_EQ(c->execute({"CLUSTER", "SETSLOT", slot_text, "NODE", dst_id}).str(), "OK");

  // The slot has moved for good: the first command is answered MOVED, the map follows.
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(cluster.get(key(i)), "v" + std::to_string(i)) << key(i);
  EXPECT_GE(cluster.stats().moved, 1U);
  EXPECT_EQ(cluster.node_for(slot), node(dst).to_string());
  EXPECT_EQ(on_dst.execute({"CLUSTER", "COUNTKEYSINSLOT", slot_text}).integer(), 100);
}

TEST_F(RedisCluster, AKilledNodeGivesErrorsWithinTheTimeoutAndServesAgainAfterRestart) {
  redis::cluster_client cluster{{node(0), node(1), node(2)},
                                {.pool = {.connection = {.connect_timeout = 200ms,
                                                         .command_timeout = 200ms,
                                                         .reconnect_backoff_min = 1ms,
                                                         .reconnect_backoff_max = 20ms}}}};
  // A key served by node 2.
  std::string victim_key;
  for (int i = 0; victim_key.empty(); ++i) {
    const std::string k = "probe:" + std::to_string(i);
    if (cluster.node_for(scaling::redis_cluster_slot(k)) == node(2).to_string()) victim_key = k;
  }
  cluster.set(victim_key, "before", 0ms);
  nodes_[2]->stop();
  try {
    (void)cluster.get(victim_key);
    FAIL() << "no error";
  } catch (const redis::error& e) {
    EXPECT_EQ(e.server(), node(2).to_string());
  }
  ASSERT_TRUE(nodes_[2]->restart());
  EXPECT_TRUE(eventually([&] {
    try {
      cluster.set(victim_key, "after", 0ms);
      return cluster.get(victim_key) == "after";
    } catch (const redis::error&) {
      return false;
    }
  }));
}

}  // namespace
