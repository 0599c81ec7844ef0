// Test-only: starts redis-server and memcached on free loopback ports, in the foreground of a
// child process, and kills them when the handle goes. A test whose server binary is missing
// skips with a message (SCALING_REQUIRE_SERVER).
#pragma once

#include <arpa/inet.h>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <string>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace engines_test {

// The full path of `name` on PATH, or "" when it is not installed.
inline std::string find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  dirs += ":/usr/sbin:/sbin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    const std::size_t end = std::min(dirs.find(':', start), dirs.size());
    const std::filesystem::path candidate =
        std::filesystem::path{dirs.substr(start, end - start)} / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = end + 1;
  }
  return {};
}

// A port the kernel just handed out on 127.0.0.1.
inline std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  (void)::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  (void)::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

inline bool accepts(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// Polls `done` until it holds or `bound` passes (a bound on a wait, not a timing assertion).
template <class F>
bool eventually(F done, std::chrono::milliseconds bound = std::chrono::seconds{5}) {
  const auto until = std::chrono::steady_clock::now() + bound;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }
  return done();
}

// One server process; killed (SIGKILL) and reaped on stop() or destruction.
class server {
 public:
  server() = default;
  server(const server&) = delete;
  server& operator=(const server&) = delete;
  ~server() { stop(); }

  // Starts `argv` (argv[0] a full path) and waits, bounded, until `port` accepts.
  bool start(std::vector<std::string> argv, std::uint16_t port) {
    argv_ = std::move(argv);
    port_ = port;
    return restart();
  }
  bool restart() {
    std::vector<char*> args;
    for (auto& a : argv_)
      args.push_back(a.data());
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    const int rc = ::posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      pid_ = 0;
      return false;
    }
    // The one wait in these tests: for the server to come up (bounded: 5 s).
    for (int i = 0; i < 500; ++i) {
      if (accepts(port_)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
    return false;
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = 0;
  }
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] bool running() const noexcept { return pid_ > 0; }

 private:
  std::vector<std::string> argv_;
  std::uint16_t port_ = 0;
  pid_t pid_ = 0;
};

// A scratch directory removed at the end.
class scratch_dir {
 public:
  scratch_dir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "scaling-engines.XXXXXX").string();
    path_ = ::mkdtemp(pattern.data()) != nullptr ? pattern : std::string{};
  }
  ~scratch_dir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

inline std::vector<std::string> redis_argv(const std::string& binary, std::uint16_t port,
                                           const std::string& dir,
                                           std::vector<std::string> extra = {}) {
  std::vector<std::string> argv{binary,
                                "--port",
                                std::to_string(port),
                                "--bind",
                                "127.0.0.1",
                                "--save",
                                "",
                                "--appendonly",
                                "no",
                                "--dir",
                                dir,
                                "--daemonize",
                                "no"};
  for (auto& e : extra)
    argv.push_back(std::move(e));
  return argv;
}

inline std::vector<std::string> memcached_argv(const std::string& binary, std::uint16_t port) {
  std::vector<std::string> argv{binary, "-p", std::to_string(port), "-l", "127.0.0.1", "-U", "0",
                                "-m",   "64"};
  if (::geteuid() == 0) {
    argv.emplace_back("-u");
    argv.emplace_back("nobody");
  }
  return argv;
}

}  // namespace engines_test

// Skips the current test with a message when `program` is not installed.
#define SCALING_REQUIRE_SERVER(var, program)                   \
  const std::string var = engines_test::find_program(program); \
  if (var.empty()) GTEST_SKIP() << program " is not installed (scripts/deps installs it)"
