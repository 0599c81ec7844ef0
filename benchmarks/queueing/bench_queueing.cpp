// Message queue hand-off: scaling::mpmc_queue beside moodycamel::ConcurrentQueue (and its
// BlockingConcurrentQueue), tbb::concurrent_bounded_queue, boost::lockfree::queue and a
// std::mutex + std::deque baseline; plus scaling::work_queue publish + receive + ack.
//
// Workloads (each iteration moves `messages` 64-bit values through a queue of capacity 1024):
//   throughput_1p1c   1 producer, 1 consumer, non-blocking calls retried in a loop
//   throughput_2p2c   2 producers, 2 consumers, same
//   ping_pong         two queues, one message bounced between two threads (round trip)
//   uncontended       one thread, try_push then try_pop of one value: the fast path's own
//                     cost (CPU time), least disturbed by a busy machine
//   blocking_1p1c     1 producer, 1 consumer on the blocking calls
//   blocking_4p4c     4 producers, 4 consumers on the blocking calls: oversubscribed on a
//                     2-core machine; counter cpu_ns_per_msg = process CPU time per message
//   idle_cpu          4 consumers blocked on an empty queue for 20 ms; counter idle_cpu_pct =
//                     process CPU time / wall time (0 = sleeping, 100 = one core burnt)
//   work_queue        publish 64, receive 64, ack 64 (single thread; msgs/s in items_per_second)
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include <scaling/core/clock.hpp>
#include <scaling/queueing/mpmc_queue.hpp>
#include <scaling/queueing/work_queue.hpp>

#ifdef SCALING_HAVE_MOODYCAMEL
#include <concurrentqueue/blockingconcurrentqueue.h>
#include <concurrentqueue/concurrentqueue.h>
#endif
#ifdef SCALING_HAVE_TBB
#include <tbb/concurrent_queue.h>
#endif
#ifdef SCALING_HAVE_BOOST_LOCKFREE
#include <boost/lockfree/queue.hpp>
#endif

namespace {

using item = std::uint64_t;
constexpr std::size_t capacity = 1024;
constexpr item stop_item = ~item{0};
constexpr std::size_t batch_messages = std::size_t{1} << 18;

// Uniform adapters: try_push / try_pop never block; push / pop block (where the queue can).
struct scaling_adapter {
  static constexpr const char* name = "scaling";
  static constexpr bool blocking = true;
  scaling::mpmc_queue<item> q{capacity};
  bool try_push(item v) { return q.try_push(v); }
  bool try_pop(item& v) { return q.try_pop(v); }
  void push(item v) { (void)q.push(v); }
  item pop() { return *q.pop(); }
};

struct mutex_deque_adapter {
  static constexpr const char* name = "std_mutex_deque";
  static constexpr bool blocking = true;
  std::mutex m;
  std::condition_variable not_empty;
  std::condition_variable not_full;
  std::deque<item> d;
  bool try_push(item v) {
    {
      std::lock_guard lock{m};
      if (d.size() >= capacity) return false;
      d.push_back(v);
    }
    not_empty.notify_one();
    return true;
  }
  bool try_pop(item& v) {
    {
      std::lock_guard lock{m};
      if (d.empty()) return false;
      v = d.front();
      d.pop_front();
    }
    not_full.notify_one();
    return true;
  }
  void push(item v) {
    {
      std::unique_lock lock{m};
      not_full.wait(lock, [&] { return d.size() < capacity; });
      d.push_back(v);
    }
    not_empty.notify_one();
  }
  item pop() {
    item v = 0;
    {
      std::unique_lock lock{m};
      not_empty.wait(lock, [&] { return !d.empty(); });
      v = d.front();
      d.pop_front();
    }
    not_full.notify_one();
    return v;
  }
};

#ifdef SCALING_HAVE_MOODYCAMEL
// moodycamel is unbounded when enqueue may allocate; try_enqueue uses only the blocks
// preallocated for `capacity` elements, which makes it a bounded queue like the others.
// The plain API (no producer/consumer tokens), as most callers use it.
struct moodycamel_adapter {
  static constexpr const char* name = "moodycamel";
  static constexpr bool blocking = false;
  moodycamel::ConcurrentQueue<item> q{capacity};
  bool try_push(item v) { return q.try_enqueue(v); }
  bool try_pop(item& v) { return q.try_dequeue(v); }
};
// The same queue allowed to allocate (the way it is usually called): not bounded, so a fast
// producer never waits; shown for the throughput and round-trip rows only.
struct moodycamel_unbounded_adapter {
  static constexpr const char* name = "moodycamel_unbounded";
  static constexpr bool blocking = false;
  moodycamel::ConcurrentQueue<item> q{capacity};
  bool try_push(item v) { return q.enqueue(v); }
  bool try_pop(item& v) { return q.try_dequeue(v); }
};
struct moodycamel_blocking_adapter {
  static constexpr const char* name = "moodycamel";  // BlockingConcurrentQueue
  static constexpr bool blocking = true;
  static constexpr bool spin_rows = false;  // the non-blocking rows are moodycamel's
  moodycamel::BlockingConcurrentQueue<item> q{capacity};
  bool try_push(item v) { return q.enqueue(v); }
  bool try_pop(item& v) { return q.try_dequeue(v); }
  void push(item v) { q.enqueue(v); }
  item pop() {
    item v = 0;
    q.wait_dequeue(v);
    return v;
  }
};
#endif

#ifdef SCALING_HAVE_TBB
struct tbb_adapter {
  static constexpr const char* name = "tbb";
  static constexpr bool blocking = true;
  tbb::concurrent_bounded_queue<item> q;
  tbb_adapter() { q.set_capacity(static_cast<std::ptrdiff_t>(capacity)); }
  bool try_push(item v) { return q.try_push(v); }
  bool try_pop(item& v) { return q.try_pop(v); }
  void push(item v) { q.push(v); }
  item pop() {
    item v = 0;
    q.pop(v);
    return v;
  }
};
#endif

#ifdef SCALING_HAVE_BOOST_LOCKFREE
struct boost_adapter {
  static constexpr const char* name = "boost_lockfree";
  static constexpr bool blocking = false;
  boost::lockfree::queue<item, boost::lockfree::fixed_sized<true>> q{capacity};
  bool try_push(item v) { return q.bounded_push(v); }
  bool try_pop(item& v) { return q.pop(v); }
};
#endif

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Moves `messages` items from `producers` threads to `consumers` threads with the
// non-blocking calls (retrying with a yield so oversubscription cannot livelock).
template <class Q>
void spin_transfer(Q& q, int producers, int consumers, std::size_t messages) {
  const std::size_t per_producer = messages / std::size_t(producers);
  const std::size_t per_consumer = messages / std::size_t(consumers);
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&q, per_producer] {
      for (item i = 0; i < per_producer; ++i) {
        while (!q.try_push(i))
          std::this_thread::yield();
      }
    });
  }
  for (int c = 0; c < consumers; ++c) {
    threads.emplace_back([&q, per_consumer] {
      item v = 0;
      item sum = 0;
      for (std::size_t n = 0; n < per_consumer; ++n) {
        while (!q.try_pop(v))
          std::this_thread::yield();
        sum += v;
      }
      benchmark::DoNotOptimize(sum);
    });
  }
  for (auto& t : threads)
    t.join();
}

template <class Q>
void blocking_transfer(Q& q, int producers, int consumers, std::size_t messages) {
  const std::size_t per_producer = messages / std::size_t(producers);
  const std::size_t per_consumer = messages / std::size_t(consumers);
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&q, per_producer] {
      for (item i = 0; i < per_producer; ++i)
        q.push(i);
    });
  }
  for (int c = 0; c < consumers; ++c) {
    threads.emplace_back([&q, per_consumer] {
      item sum = 0;
      for (std::size_t n = 0; n < per_consumer; ++n)
        sum += q.pop();
      benchmark::DoNotOptimize(sum);
    });
  }
  for (auto& t : threads)
    t.join();
}

template <class Q>
void throughput(benchmark::State& state, int producers, int consumers, bool blocking) {
  constexpr std::size_t messages = batch_messages;
  double cpu = 0;
  for (auto _ : state) {
    Q q;
    const double before = process_cpu_seconds();
    if constexpr (Q::blocking) {
      if (blocking) {
        blocking_transfer(q, producers, consumers, messages);
      } else {
        spin_transfer(q, producers, consumers, messages);
      }
    } else {
      spin_transfer(q, producers, consumers, messages);
    }
    cpu += process_cpu_seconds() - before;
  }
  const double total = static_cast<double>(state.iterations()) * static_cast<double>(messages);
  state.SetItemsProcessed(static_cast<std::int64_t>(total));
  state.counters["msgs_per_s"] = benchmark::Counter(total, benchmark::Counter::kIsRate);
  state.counters["cpu_ns_per_msg"] = cpu * 1e9 / total;
}

// Retries `attempt` until it succeeds: spins first, then yields, so a partner thread that the
// scheduler took off its core (the machine is shared) gets it back quickly.
template <class F>
void retry(F&& attempt) {
  for (int spins = 0; !attempt(); ++spins) {
    if (spins >= 256) std::this_thread::yield();
  }
}

template <class Q>
void ping_pong(benchmark::State& state) {
  Q there;
  Q back;
  std::atomic<bool> done{false};
  std::thread echo([&] {
    item v = 0;
    for (;;) {
      bool got = false;
      retry([&] { return (got = there.try_pop(v)) || done.load(std::memory_order_relaxed); });
      if (!got) return;
      retry([&] { return back.try_push(v); });
    }
  });
  item v = 0;
  for (auto _ : state) {
    retry([&] { return there.try_push(v); });
    retry([&] { return back.try_pop(v); });
    ++v;
  }
  done.store(true);
  echo.join();
  state.SetItemsProcessed(state.iterations());
}

template <class Q>
void uncontended(benchmark::State& state) {
  Q q;
  item v = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(q.try_push(v));
    benchmark::DoNotOptimize(q.try_pop(v));
    ++v;
  }
  state.SetItemsProcessed(state.iterations());
}

template <class Q>
void idle_cpu(benchmark::State& state) {
  constexpr int consumers = 4;
  double cpu = 0;
  double wall = 0;
  for (auto _ : state) {
    Q q;
    std::vector<std::thread> threads;
    for (int c = 0; c < consumers; ++c)
      threads.emplace_back([&q] { benchmark::DoNotOptimize(q.pop()); });
    // Let them reach their sleeping state, then measure 20 ms of idleness.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const double cpu_before = process_cpu_seconds();
    const auto wall_before = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    cpu += process_cpu_seconds() - cpu_before;
    wall += std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_before).count();
    for (int c = 0; c < consumers; ++c)
      q.push(stop_item);
    for (auto& t : threads)
      t.join();
  }
  state.counters["idle_cpu_pct"] = 100.0 * cpu / wall;
}

void work_queue_cycle(benchmark::State& state) {
  scaling::manual_clock clock;
  scaling::work_queue_options options;
  options.visibility_timeout = std::chrono::seconds{30};
  scaling::work_queue<item, scaling::manual_clock> q{options, clock};
  constexpr std::size_t batch = 64;
  for (auto _ : state) {
    for (item i = 0; i < batch; ++i)
      benchmark::DoNotOptimize(q.publish(i));
    auto got = q.receive(1, batch);
    for (const auto& d : got)
      benchmark::DoNotOptimize(q.ack(d.receipt));
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch));
}

template <class Q>
constexpr bool spin_rows = [] {
  if constexpr (requires { Q::spin_rows; }) {
    return Q::spin_rows;
  } else {
    return true;
  }
}();

template <class Q>
void register_spin_rows(const std::string& impl);
template <class Q>
void register_blocking_rows(const std::string& impl);

template <class Q>
void register_queue() {
  const std::string impl = Q::name;
  if constexpr (spin_rows<Q>) register_spin_rows<Q>(impl);
  if constexpr (Q::blocking) register_blocking_rows<Q>(impl);
}

template <class Q>
void register_spin_rows(const std::string& impl) {
  benchmark::RegisterBenchmark(("throughput_1p1c/" + impl + "/cap1024").c_str(),
                               [](benchmark::State& s) { throughput<Q>(s, 1, 1, false); })
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark(("throughput_2p2c/" + impl + "/cap1024").c_str(),
                               [](benchmark::State& s) { throughput<Q>(s, 2, 2, false); })
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark(("ping_pong/" + impl + "/round_trip").c_str(), ping_pong<Q>)
      ->UseRealTime();
  benchmark::RegisterBenchmark(("uncontended/" + impl + "/push_pop").c_str(), uncontended<Q>);
}

template <class Q>
void register_blocking_rows(const std::string& impl) {
  {
    benchmark::RegisterBenchmark(("blocking_1p1c/" + impl + "/cap1024").c_str(),
                                 [](benchmark::State& s) { throughput<Q>(s, 1, 1, true); })
        ->UseRealTime()
        ->MeasureProcessCPUTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("blocking_4p4c/" + impl + "/cap1024").c_str(),
                                 [](benchmark::State& s) { throughput<Q>(s, 4, 4, true); })
        ->UseRealTime()
        ->MeasureProcessCPUTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("idle_cpu/" + impl + "/consumers4").c_str(), idle_cpu<Q>)
        ->UseRealTime()
        ->MeasureProcessCPUTime()
        ->Iterations(3)
        ->Unit(benchmark::kMillisecond);
  }
}

const bool registered = [] {
  register_queue<scaling_adapter>();
#ifdef SCALING_HAVE_MOODYCAMEL
  register_queue<moodycamel_adapter>();
  register_queue<moodycamel_unbounded_adapter>();
  register_queue<moodycamel_blocking_adapter>();
#else
  std::fputs("bench_queueing: moodycamel (libconcurrentqueue-dev) not found; rows dropped\n",
             stderr);
#endif
#ifdef SCALING_HAVE_TBB
  register_queue<tbb_adapter>();
#else
  std::fputs("bench_queueing: oneTBB (libtbb-dev) not found; rows dropped\n", stderr);
#endif
#ifdef SCALING_HAVE_BOOST_LOCKFREE
  register_queue<boost_adapter>();
#else
  std::fputs("bench_queueing: boost::lockfree not found; rows dropped\n", stderr);
#endif
  register_queue<mutex_deque_adapter>();
  benchmark::RegisterBenchmark("work_queue/scaling/publish_receive_ack_batch64", work_queue_cycle);
  return true;
}();

}  // namespace
