// scaling/cdn/detail/background_worker.hpp: one thread that runs submitted tasks in order.
//
// The edge cache's default executor for stale-while-revalidate refreshes: refreshes are rare
// (one per stale key at a time) and must never run on the requesting thread. The destructor
// runs what is queued, then joins.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

namespace scaling::detail {

class background_worker {
 public:
  background_worker() : thread_([this] { run(); }) {}
  background_worker(const background_worker&) = delete;
  background_worker& operator=(const background_worker&) = delete;
  ~background_worker() {
    {
      const std::lock_guard lock{mutex_};
      stopping_ = true;
    }
    ready_.notify_one();
    thread_.join();
  }

  void submit(std::function<void()> task) {
    {
      const std::lock_guard lock{mutex_};
      tasks_.push_back(std::move(task));
    }
    ready_.notify_one();
  }

 private:
  void run() {
    std::unique_lock lock{mutex_};
    for (;;) {
      ready_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // stopping, and everything queued has run
      auto task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace scaling::detail
