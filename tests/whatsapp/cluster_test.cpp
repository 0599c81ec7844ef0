// chat_relay clusters as real processes: chat_load with churn against three relays, one of
// them killed with SIGKILL and restarted mid-run. V2 and V3 must lose nothing acknowledged,
// show the application nothing twice and keep every conversation's order (V2 on the log store
// and on the Redis store); V1 reports its loss.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <map>
#include <optional>
#include <poll.h>
#include <signal.h>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <gtest/gtest.h>

#include "engines/servers.hpp"

namespace {

using namespace std::chrono_literals;

// A child process whose stdout (and stderr) we read line by line.
class process {
 public:
  explicit process(std::vector<std::string> argv) : argv_(std::move(argv)) { start(); }
  process(const process&) = delete;
  process& operator=(const process&) = delete;
  ~process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      (void)wait();
    }
    if (fd_ >= 0) ::close(fd_);
  }

  // The next line, or nullopt at EOF or after `timeout`.
  std::optional<std::string> line(std::chrono::milliseconds timeout = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string l = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        output_ += l + "\n";
        return l;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || fd_ < 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[4096];
      const ssize_t n = ::read(fd_, chunk, sizeof chunk);
      if (n <= 0) {
        ::close(fd_);
        fd_ = -1;
        if (!buffer_.empty()) buffer_.push_back('\n');
        continue;
      }
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  // Reads lines until one contains `text`; returns it (nullopt: EOF or timeout).
  std::optional<std::string> wait_for(const std::string& text,
                                      std::chrono::milliseconds timeout = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (auto l = line(std::chrono::duration_cast<std::chrono::milliseconds>(
               deadline - std::chrono::steady_clock::now()))) {
      if (l->find(text) != std::string::npos) return l;
    }
    return std::nullopt;
  }

  void signal(int sig) { ::kill(pid_, sig); }

  // The exit status (or 128 + signal).
  int wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  void restart() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buffer_.clear();
    start();
  }

  [[nodiscard]] const std::string& output() const { return output_; }

 private:
  void start() {
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], 1);
      ::dup2(fds[1], 2);
      std::vector<char*> args;
      for (auto& a : argv_)
        args.push_back(a.data());
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    fd_ = fds[0];
  }

  std::vector<std::string> argv_;
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string buffer_;
  std::string output_;
};

std::uint16_t free_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a{io, {boost::asio::ip::make_address("127.0.0.1"), 0}};
  return a.local_endpoint().port();
}

std::map<std::string, std::string> fields(const std::string& line) {
  std::map<std::string, std::string> out;
  std::istringstream in{line};
  std::string word;
  while (in >> word) {
    const auto eq = word.find('=');
    if (eq != std::string::npos) out[word.substr(0, eq)] = word.substr(eq + 1);
  }
  return out;
}

long number(const std::map<std::string, std::string>& f, const std::string& key) {
  auto it = f.find(key);
  return it == f.end() ? -1 : std::stol(it->second);
}

struct cluster {
  // `extra`: more chat_relay flags (the store's).
  cluster(const std::string& mode, const std::string& users, std::vector<std::string> extra = {})
      : mode_(mode) {
    dir_ = std::filesystem::temp_directory_path() /
           ("chat-cluster-" + std::to_string(::getpid()) + "-" + mode);
    std::filesystem::remove_all(dir_);
    for (int i = 0; i < 3; ++i) {
      if (!addresses_.empty()) addresses_ += ",";
      addresses_ += "127.0.0.1:" + std::to_string(free_port());
    }
    for (int i = 0; i < 3; ++i) {
      std::vector<std::string> argv{CHAT_RELAY,
                                    "--mode",
                                    mode,
                                    "--index",
                                    std::to_string(i),
                                    "--cluster",
                                    addresses_,
                                    "--users",
                                    users,
                                    "--data-dir",
                                    (dir_ / ("relay-" + std::to_string(i))).string(),
                                    "--forward-timeout-ms",
                                    "500"};
      argv.insert(argv.end(), extra.begin(), extra.end());
      relays_.push_back(std::make_unique<process>(std::move(argv)));
    }
    for (auto& r : relays_)
      EXPECT_TRUE(r->wait_for("listening")) << r->output();
  }
  ~cluster() {
    for (auto& r : relays_) {
      r->signal(SIGTERM);
      // A relay that stops cleanly exits 0: a sanitizer report in it would not.
      EXPECT_EQ(r->wait(), 0) << r->output();
    }
    std::filesystem::remove_all(dir_);
  }
  std::string mode_;
  std::filesystem::path dir_;
  std::string addresses_;
  std::vector<std::unique_ptr<process>> relays_;
};

// Runs chat_load against `c`; with `kill_relay`, SIGKILLs that relay once some messages are
// delivered and restarts it on the same port and log. Returns the summary's fields.
std::map<std::string, std::string> run_load(cluster& c, const std::string& users,
                                            std::optional<int> kill_relay) {
  process load{{CHAT_LOAD, "--mode", c.mode_, "--cluster", c.addresses_, "--users", users,
                "--duration-ms", "2000", "--rate", "400", "--churn", "0.5", "--progress-ms", "50",
                "--drain-timeout-ms", "20000"}};
  if (kill_relay) {
    for (;;) {
      auto l = load.wait_for("progress");
      if (!l) break;
      if (number(fields(*l), "delivered") >= 100) break;
    }
    auto& relay = *c.relays_[static_cast<std::size_t>(*kill_relay)];
    relay.signal(SIGKILL);
    EXPECT_EQ(relay.wait(), 128 + SIGKILL);
    relay.restart();
    EXPECT_TRUE(relay.wait_for("listening")) << relay.output();
  }
  auto summary = load.wait_for("mode=", 60s);
  EXPECT_TRUE(summary) << load.output();
  if (summary) std::printf("%s\n", summary->c_str());
  EXPECT_EQ(load.wait(), 0) << load.output();
  return summary ? fields(*summary) : std::map<std::string, std::string>{};
}

void expect_nothing_lost(const std::map<std::string, std::string>& f) {
  EXPECT_GT(number(f, "sent"), 200);
  EXPECT_EQ(number(f, "delivered"), number(f, "sent"));
  EXPECT_EQ(number(f, "lost"), 0);
  EXPECT_EQ(number(f, "duplicates"), 0);
  EXPECT_EQ(number(f, "reordered"), 0);
  EXPECT_EQ(number(f, "unacked"), 0);
  EXPECT_GT(number(f, "stored"), 0);  // churn made some recipients offline
}

TEST(ChatCluster, V2LosesNothingAcrossChurnAndASigkilledRelay) {
  cluster c{"v2", "150"};
  const auto f = run_load(c, "150", 1);
  expect_nothing_lost(f);
}

TEST(ChatCluster, V3LosesNothingAcrossChurnAndASigkilledRelay) {
  cluster c{"v3", "150"};
  const auto f = run_load(c, "150", 2);
  expect_nothing_lost(f);
}

#if SCALING_HAVE_HIREDIS
TEST(ChatCluster, V2OnRedisLosesNothingAcrossChurnAndASigkilledRelay) {
  SCALING_REQUIRE_SERVER(redis_bin, "redis-server");
  engines_test::scratch_dir dir;
  const std::uint16_t port = engines_test::free_port();
  engines_test::server redis;  // outlives the cluster
  ASSERT_TRUE(
      redis.start(engines_test::redis_argv(redis_bin, port, dir.path(),
                                           {"--appendonly", "yes", "--appendfsync", "always"}),
                  port));
  cluster c{"v2", "150", {"--store=redis", "--redis=127.0.0.1:" + std::to_string(port)}};
  const auto f = run_load(c, "150", 0);
  expect_nothing_lost(f);
}
#else
TEST(ChatCluster, V2OnRedisLosesNothingAcrossChurnAndASigkilledRelay) {
  GTEST_SKIP() << "built without hiredis (Debian: libhiredis-dev): no Redis store";
}
#endif

TEST(ChatCluster, V1FailsBackWhatItCannotDeliverNow) {
  cluster c{"v1", "150"};
  const auto f = run_load(c, "150", std::nullopt);
  EXPECT_GT(number(f, "sent"), 200);
  EXPECT_EQ(number(f, "stored"), 0);
  EXPECT_GT(number(f, "lost"), 0);  // V1's lesson: offline recipients lose messages
  EXPECT_EQ(number(f, "lost"), number(f, "sent") - number(f, "delivered"));
  EXPECT_EQ(number(f, "duplicates"), 0);
}

}  // namespace
