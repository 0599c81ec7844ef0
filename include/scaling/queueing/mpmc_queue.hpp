// scaling/queueing/mpmc_queue.hpp: a bounded, lock-free multi-producer multi-consumer FIFO.
//
// What it is: `scaling::mpmc_queue<T>`, a fixed-capacity ring of slots where producers and
// consumers take tickets and each slot carries a sequence number ("turn") telling whose turn
// it is. The non-blocking calls (`try_push`, `try_emplace`, `try_pop`) are lock-free; the
// blocking calls (`push`, `emplace`, `pop`) spin briefly, then sleep on a C++20 atomic wait
// and are woken only when someone actually sleeps. The bounded waits (`push_for`, `push_until`,
// `pop_for`, `pop_until`, with optional std::stop_token) do the same but sleep on a condition
// variable, since atomics have no timed wait. `close()` wakes every sleeper.
//
// When to pick it: an in-process hand-off between threads with a hard memory bound and
// backpressure (producers block or see `false` when full). Pick `work_queue` instead when a
// message must survive a consumer crash (ack / redelivery), and `mailbox` for per-recipient
// store-and-forward. Not for unbounded bursts: the capacity is fixed at construction.
//
//   scaling::mpmc_queue<std::string> q{1024};
//   std::jthread consumer{[&] { while (auto m = q.pop()) handle(*m); }};
//   if (!q.try_push("fast path")) { /* full: shed or retry */ }
//   (void)q.push("waits for space");       // false only if the queue was closed
//   auto r = q.pop_for(50ms);              // wait_result: ready, timed_out, stopped, closed
//   q.close();                             // pop() returns nullopt once drained
//
// Thread safety: every member may be called concurrently from any number of threads.
// Complexity: O(1) per operation; try_* are lock-free (a CAS loop on the head or tail ticket).
// Memory: one cache line per slot (at least), plus six lines of counters (head, tail, four wait
// words) and the timed waiters' mutex and condition variables.
//
// Algorithm (the Vyukov bounded queue, with rigtorp's turn encoding so any capacity >= 1
// works, capacity 1 included):
//   1. A producer reads the tail ticket t; slot t % capacity is free for it when the slot's
//      turn is 2 * (t / capacity). It claims the ticket with a CAS on the tail, constructs the
//      element and publishes it by storing turn + 1 (release).
//   2. A consumer does the same on the head ticket, waiting for turn 2 * (t / capacity) + 1;
//      it moves the element out, destroys it and hands the slot to the next lap (turn + 1).
//   3. Sleeping: a blocked thread registers in a waiter count, reads an epoch word, re-checks
//      the tickets and sleeps on the epoch. The other side bumps the epoch and notifies only
//      when the waiter count is non-zero, so an uncontended hand-off never makes a system call.
//   4. Timed sleeping: atomic wait has no timeout, so a bounded wait registers in the same
//      waiter count (keeping the other side's fast path a single load) and also in a timed
//      count, then re-checks the tickets and sleeps on a condition variable under a side
//      mutex. The other side, having seen a waiter, looks at the timed count too and, when it
//      is non-zero, bumps a side epoch under the mutex and notifies the condition variable.
//      The mutex is touched only when a timed waiter sleeps.
// References: D. Vyukov, "Bounded MPMC queue" (1024cores.net); E. Rigtorp, MPMCQueue.
#pragma once

#include <atomic>
#include <bit>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <stop_token>
#include <thread>
#include <type_traits>
#include <utility>

#include <scaling/core/config.hpp>
#include <scaling/core/deadline.hpp>
#include <scaling/core/error.hpp>

// Tuning of the blocking calls: busy-wait attempts, then yielding attempts, before sleeping.
// Defaults measured on a 2-core machine with 8 threads (see benchmarks/queueing/README.md).
#ifndef SCALING_MPMC_SPIN
#define SCALING_MPMC_SPIN 32
#endif
#ifndef SCALING_MPMC_YIELD
#define SCALING_MPMC_YIELD 256
#endif

namespace scaling {

// A type a queue can store:
//   - destroying it never throws (a slot is freed during pop);
//   - moving it never throws (the element moves into its slot after the ticket is claimed and
//     out of it during pop; a throw there would leave a claimed slot empty forever).
// std::string, std::unique_ptr and every trivially copyable type qualify.
template <class T>
concept queue_element = std::is_object_v<T> && std::is_nothrow_destructible_v<T> &&
    std::is_nothrow_move_constructible_v<T>;

namespace detail {

// A CPU hint that we are spinning (lets the sibling hyper-thread run, saves power).
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace detail

template <queue_element T>
class mpmc_queue {
 public:
  using value_type = T;
  using size_type = std::size_t;

  // Creates an empty queue holding at most `capacity` elements.
  //
  // Throws: scaling::invalid_argument if capacity is 0 or too large to allocate.
  // Thread safety: construction is not concurrent with anything else.
  explicit mpmc_queue(size_type capacity) : capacity_(capacity) {
    if (capacity == 0) {
      detail::throw_invalid_argument("scaling::mpmc_queue", "capacity", "must be >= 1", capacity);
    }
    if (capacity > max_capacity) {
      detail::throw_invalid_argument("scaling::mpmc_queue", "capacity",
                                     "must be <= 2^32 (one ticket lap per slot)", capacity);
    }
    // A power of two turns the division into a shift and a mask; other sizes divide.
    if ((capacity & (capacity - 1)) == 0) {
      shift_ = static_cast<unsigned>(std::countr_zero(capacity));
    }
    // One extra slot so the last slot never shares a line with a neighbouring allocation.
    slots_ = std::make_unique<slot[]>(capacity + 1);
  }

  mpmc_queue(const mpmc_queue&) = delete;
  mpmc_queue& operator=(const mpmc_queue&) = delete;

  // Destroys the elements still queued. Precondition: no thread is using the queue.
  ~mpmc_queue() {
    const std::uint64_t head = head_.value.load(std::memory_order_relaxed);
    const std::uint64_t tail = tail_.value.load(std::memory_order_relaxed) & ~closed_bit;
    for (std::uint64_t ticket = head; ticket != tail; ++ticket) {
      slot& s = slots_[index_of(ticket)];
      if (s.turn.load(std::memory_order_relaxed) % 2 == 1) s.destroy();
    }
  }

  // Constructs an element from `args` at the back if there is room, without blocking.
  //
  // Returns: true if queued; false if the queue is full or closed (nothing was constructed).
  // Throws: whatever T's constructor throws; the queue is then unchanged (strong guarantee:
  //   a throwing constructor runs before a ticket is claimed).
  template <class... Args>
  requires std::is_constructible_v<T, Args&&...>
  [[nodiscard]] bool try_emplace(Args&&... args) {
    if constexpr (std::is_nothrow_constructible_v<T, Args&&...>) {
      return try_emplace_nothrow(std::forward<Args>(args)...);
    } else {
      T value(std::forward<Args>(args)...);
      return try_emplace_nothrow(std::move(value));
    }
  }

  // try_emplace from a copy or a moved value. On false, `value` is left untouched.
  [[nodiscard]] bool try_push(const T& value) requires std::is_copy_constructible_v<T> {
    return try_emplace(value);
  }
  [[nodiscard]] bool try_push(T&& value) { return try_emplace_nothrow(std::move(value)); }

  // Constructs an element at the back, sleeping while the queue is full.
  //
  // Returns: true if queued; false if the queue is or becomes closed (nothing was queued).
  // Throws: whatever T's constructor throws (queue unchanged).
  template <class... Args>
  requires std::is_constructible_v<T, Args&&...>
  bool emplace(Args&&... args) {
    if constexpr (std::is_nothrow_constructible_v<T, Args&&...>) {
      return emplace_nothrow(std::forward<Args>(args)...);
    } else {
      T value(std::forward<Args>(args)...);
      return emplace_nothrow(std::move(value));
    }
  }
  bool push(const T& value) requires std::is_copy_constructible_v<T> { return emplace(value); }
  // On false (closed), `value` is left untouched.
  bool push(T&& value) { return emplace_nothrow(std::move(value)); }

  // Moves the front element into `out` if there is one, without blocking.
  //
  // Returns: true if an element was taken. false means empty at some instant during the call,
  //   or that the front element's producer has claimed its slot but not finished writing it.
  [[nodiscard]] bool try_pop(T& out) noexcept requires std::is_nothrow_move_assignable_v<T> {
    return try_consume([&out](T& value) noexcept { out = std::move(value); });
  }

  // Takes the front element, sleeping while the queue is empty.
  //
  // Returns: the element, or std::nullopt once the queue is closed and drained.
  [[nodiscard]] std::optional<T> pop() noexcept {
    std::optional<T> result;
    const auto take = [&result](T& value) noexcept { result.emplace(std::move(value)); };
    for (backoff wait;;) {
      if (try_consume(take)) return result;
      if (!wait.next()) break;
    }
    for (;;) {
      if (try_consume(take)) return result;
      pop_waiters_.value.fetch_add(1, std::memory_order_seq_cst);
      const std::uint32_t epoch = not_empty_.value.load(std::memory_order_seq_cst);
      // Re-check with seq_cst loads of both tickets: a producer whose tail CAS is ordered
      // before our registration shows up here; one ordered after it sees our registration.
      const std::uint64_t tail = tail_.value.load(std::memory_order_seq_cst);
      const std::uint64_t head = head_.value.load(std::memory_order_seq_cst);
      if ((tail & ~closed_bit) != head) {
        // Something is queued or being written: don't sleep, retry (yield to let it finish).
        pop_waiters_.value.fetch_sub(1, std::memory_order_relaxed);
        std::this_thread::yield();
        continue;
      }
      if ((tail & closed_bit) != 0) {
        pop_waiters_.value.fetch_sub(1, std::memory_order_relaxed);
        return std::nullopt;
      }
      not_empty_.value.wait(epoch, std::memory_order_seq_cst);
      pop_waiters_.value.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  // Bounded waits. push_for / push_until queue a copy of (or move) `value`, sleeping while the
  // queue is full, until the deadline passes (a duration saturates: nanoseconds::max() or
  // hours::max() is forever) or `stop` is requested.
  //
  // Returns: ready (queued), closed (the queue is or became closed), timed_out or stopped;
  //   unless ready nothing was queued, and a moved-from `value` is left untouched.
  // Throws: whatever T's copy constructor throws (queue unchanged).
  template <class Rep, class Period>
  [[nodiscard]] wait_status push_for(
      const T& value,
      std::chrono::duration<Rep, Period> timeout) requires std::is_copy_constructible_v<T> {
    return push_until(value, deadline_after(std::chrono::steady_clock{}, timeout));
  }
  template <class Rep, class Period>
  [[nodiscard]] wait_status push_for(T&& value, std::chrono::duration<Rep, Period> timeout) {
    return push_until(std::move(value), deadline_after(std::chrono::steady_clock{}, timeout));
  }
  template <class Rep, class Period>
  [[nodiscard]] wait_status push_for(
      const T& value, std::chrono::duration<Rep, Period> timeout,
      std::stop_token stop) requires std::is_copy_constructible_v<T> {
    return push_until(value, deadline_after(std::chrono::steady_clock{}, timeout), std::move(stop));
  }
  template <class Rep, class Period>
  [[nodiscard]] wait_status push_for(T&& value, std::chrono::duration<Rep, Period> timeout,
                                     std::stop_token stop) {
    return push_until(std::move(value), deadline_after(std::chrono::steady_clock{}, timeout),
                      std::move(stop));
  }
  [[nodiscard]] wait_status push_until(
      const T& value,
      std::chrono::steady_clock::time_point deadline) requires std::is_copy_constructible_v<T> {
    return copy_then_push(value, deadline, nullptr);
  }
  [[nodiscard]] wait_status push_until(T&& value, std::chrono::steady_clock::time_point deadline) {
    return timed_emplace(deadline, nullptr, std::move(value));
  }
  [[nodiscard]] wait_status push_until(
      const T& value, std::chrono::steady_clock::time_point deadline,
      std::stop_token stop) requires std::is_copy_constructible_v<T> {
    return copy_then_push(value, deadline, &stop);
  }
  [[nodiscard]] wait_status push_until(T&& value, std::chrono::steady_clock::time_point deadline,
                                       std::stop_token stop) {
    return timed_emplace(deadline, &stop, std::move(value));
  }

  // pop_for / pop_until take the front element, sleeping while the queue is empty, until the
  // deadline passes (saturating, as push_for) or `stop` is requested. An element that is there
  // is taken even when the deadline has passed (pop_for(0s) is a try_pop that says why not).
  //
  // Returns: the element (ready), or no value and closed (closed and drained), timed_out or
  //   stopped.
  template <class Rep, class Period>
  [[nodiscard]] wait_result<T> pop_for(std::chrono::duration<Rep, Period> timeout) {
    return pop_until(deadline_after(std::chrono::steady_clock{}, timeout));
  }
  template <class Rep, class Period>
  [[nodiscard]] wait_result<T> pop_for(std::chrono::duration<Rep, Period> timeout,
                                       std::stop_token stop) {
    return pop_until(deadline_after(std::chrono::steady_clock{}, timeout), std::move(stop));
  }
  [[nodiscard]] wait_result<T> pop_until(std::chrono::steady_clock::time_point deadline) {
    return timed_pop(deadline, nullptr);
  }
  [[nodiscard]] wait_result<T> pop_until(std::chrono::steady_clock::time_point deadline,
                                         std::stop_token stop) {
    return timed_pop(deadline, &stop);
  }

  // Closes the queue: later pushes fail, pops drain what is queued and then return nullopt.
  // Every sleeping producer and consumer wakes, timed ones included. Idempotent.
  void close() noexcept {
    tail_.value.fetch_or(closed_bit, std::memory_order_seq_cst);
    not_empty_.value.fetch_add(1, std::memory_order_seq_cst);
    not_empty_.value.notify_all();
    not_full_.value.fetch_add(1, std::memory_order_seq_cst);
    not_full_.value.notify_all();
    {
      std::lock_guard lock{timed_.mutex};
      ++timed_.not_empty_epoch;
      ++timed_.not_full_epoch;
    }
    timed_.not_empty.notify_all();
    timed_.not_full.notify_all();
  }

  [[nodiscard]] bool closed() const noexcept {
    return (tail_.value.load(std::memory_order_acquire) & closed_bit) != 0;
  }

  // The number of queued elements (those being written or read included): exact when the
  // queue is quiescent, a recent value otherwise. Always in [0, capacity()].
  [[nodiscard]] size_type size() const noexcept {
    const std::uint64_t head = head_.value.load(std::memory_order_seq_cst);
    const std::uint64_t tail = tail_.value.load(std::memory_order_seq_cst) & ~closed_bit;
    if (tail <= head) return 0;
    const std::uint64_t n = tail - head;
    return n > capacity_ ? capacity_ : static_cast<size_type>(n);
  }
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }
  [[nodiscard]] size_type capacity() const noexcept { return capacity_; }

  // The number of threads sleeping (or about to sleep) in the blocking and bounded pops /
  // pushes: a monitoring figure.
  [[nodiscard]] std::uint32_t sleeping_consumers() const noexcept {
    return pop_waiters_.value.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint32_t sleeping_producers() const noexcept {
    return push_waiters_.value.load(std::memory_order_relaxed);
  }

  static constexpr size_type max_capacity = size_type{1} << 32;

 private:
  // Bit 63 of the tail ticket marks the queue closed, so a push linearizes against close():
  // its CAS on the tail fails once the bit is set. 2^63 tickets never run out.
  static constexpr std::uint64_t closed_bit = std::uint64_t{1} << 63;
  // Brief spinning catches the common case of a partner thread a few hundred ns away without
  // a system call; beyond that, sleeping is cheaper than burning a core that may be needed.
  static constexpr int spin_limit = SCALING_MPMC_SPIN;
  // Then a few yields: when threads outnumber cores the partner we wait for is often runnable
  // but not running, and giving it our core lets it fill (or drain) a batch, so we sleep and
  // wake once per batch instead of once per element.
  static constexpr int yield_limit = SCALING_MPMC_YIELD;
  // The yields are counted, not timed: a yield that takes long means other threads had work
  // to do on this core, which burns none of our CPU; one that returns at once costs a system
  // call, and the count bounds those before the thread sleeps.
  // The waiting strategy before sleeping: next() pauses once and says whether to keep trying.
  class backoff {
   public:
    bool next() noexcept {
      if (attempt_ < spin_limit) {
        ++attempt_;
        detail::cpu_relax();
        return true;
      }
      if (attempt_ >= spin_limit + yield_limit) return false;
      ++attempt_;
      std::this_thread::yield();
      return true;
    }

   private:
    int attempt_ = 0;
  };

  struct alignas(cache_line_size) slot {
    // Even: free for the producer of lap turn/2. Odd: holds the element of lap turn/2.
    std::atomic<std::uint64_t> turn{0};
    alignas(T) std::byte storage[sizeof(T)];

    template <class... Args>
    void construct(Args&&... args) noexcept {
      ::new (static_cast<void*>(storage)) T(std::forward<Args>(args)...);
    }
    T& value() noexcept { return *std::launder(reinterpret_cast<T*>(storage)); }
    void destroy() noexcept { value().~T(); }
  };

  struct alignas(cache_line_size) ticket_counter {
    std::atomic<std::uint64_t> value{0};
  };
  // libstdc++ 12 futexes directly only on 4-byte atomics (others share hashed proxy words),
  // so the words slept on are 32-bit; they wrap harmlessly (only inequality matters).
  struct alignas(cache_line_size) wait_word {
    std::atomic<std::uint32_t> value{0};
  };

  // Bounded waits sleep here (step 4). Only touched when a timed waiter is registered.
  struct alignas(cache_line_size) timed_waiters {
    std::atomic<std::uint32_t> pops{0};    // timed consumers registered (also in pop_waiters_)
    std::atomic<std::uint32_t> pushes{0};  // timed producers registered (also in push_waiters_)
    std::mutex mutex;
    std::uint64_t not_empty_epoch = 0;  // under mutex
    std::uint64_t not_full_epoch = 0;   // under mutex
    std::condition_variable_any not_empty;
    std::condition_variable_any not_full;
  };

  static_assert(sizeof(slot) % cache_line_size == 0 && alignof(slot) == cache_line_size,
                "each slot owns whole cache lines, so neighbours never false-share");
  static_assert(sizeof(ticket_counter) == cache_line_size &&
                    alignof(ticket_counter) == cache_line_size,
                "the head and tail tickets live on separate cache lines (no false sharing)");
  static_assert(sizeof(wait_word) == cache_line_size && alignof(wait_word) == cache_line_size,
                "waiter counts and epochs do not share a line with the tickets");
  static_assert(std::atomic<std::uint64_t>::is_always_lock_free &&
                    std::atomic<std::uint32_t>::is_always_lock_free,
                "tickets and wait words must be lock-free atomics");

  [[nodiscard]] std::uint64_t lap_of(std::uint64_t ticket) const noexcept {
    return shift_ != no_shift ? ticket >> shift_ : ticket / capacity_;
  }
  [[nodiscard]] size_type index_of(std::uint64_t ticket) const noexcept {
    return shift_ != no_shift ? static_cast<size_type>(ticket & (capacity_ - 1))
                              : static_cast<size_type>(ticket % capacity_);
  }

  template <class... Args>
  bool try_emplace_nothrow(Args&&... args) noexcept {
    std::uint64_t tail = tail_.value.load(std::memory_order_relaxed);
    for (;;) {
      if ((tail & closed_bit) != 0) return false;
      slot& s = slots_[index_of(tail)];
      const std::uint64_t want = 2 * lap_of(tail);
      const std::uint64_t turn = s.turn.load(std::memory_order_acquire);
      if (turn == want) {
        // seq_cst so the waiter-count load below is ordered after the claim (see pop()).
        if (tail_.value.compare_exchange_weak(tail, tail + 1, std::memory_order_seq_cst,
                                              std::memory_order_relaxed)) {
          s.construct(std::forward<Args>(args)...);
          s.turn.store(want + 1, std::memory_order_release);
          if (pop_waiters_.value.load(std::memory_order_seq_cst) != 0) wake_consumer();
          return true;
        }
      } else if (turn < want) {
        // The slot still holds the previous lap's element: full (unless the tail moved on).
        const std::uint64_t again = tail_.value.load(std::memory_order_relaxed);
        if (again == tail) return false;
        tail = again;
      } else {
        tail = tail_.value.load(std::memory_order_relaxed);
      }
    }
  }

  template <class Take>
  bool try_consume(Take&& take) noexcept {
    std::uint64_t head = head_.value.load(std::memory_order_relaxed);
    for (;;) {
      slot& s = slots_[index_of(head)];
      const std::uint64_t want = 2 * lap_of(head) + 1;
      const std::uint64_t turn = s.turn.load(std::memory_order_acquire);
      if (turn == want) {
        if (head_.value.compare_exchange_weak(head, head + 1, std::memory_order_seq_cst,
                                              std::memory_order_relaxed)) {
          take(s.value());
          s.destroy();
          s.turn.store(want + 1, std::memory_order_release);
          if (push_waiters_.value.load(std::memory_order_seq_cst) != 0) wake_producer();
          return true;
        }
      } else if (turn < want) {
        const std::uint64_t again = head_.value.load(std::memory_order_relaxed);
        if (again == head) return false;
        head = again;
      } else {
        head = head_.value.load(std::memory_order_relaxed);
      }
    }
  }

  template <class... Args>
  bool emplace_nothrow(Args&&... args) noexcept {
    // Arguments are forwarded only by the attempt that succeeds, so retrying is safe.
    for (backoff wait;;) {
      if (try_emplace_nothrow(std::forward<Args>(args)...)) return true;
      if (closed()) return false;
      if (!wait.next()) break;
    }
    for (;;) {
      if (try_emplace_nothrow(std::forward<Args>(args)...)) return true;
      push_waiters_.value.fetch_add(1, std::memory_order_seq_cst);
      const std::uint32_t epoch = not_full_.value.load(std::memory_order_seq_cst);
      const std::uint64_t tail = tail_.value.load(std::memory_order_seq_cst);
      const std::uint64_t head = head_.value.load(std::memory_order_seq_cst);
      if ((tail & closed_bit) != 0) {
        push_waiters_.value.fetch_sub(1, std::memory_order_relaxed);
        return false;
      }
      if (head >= tail || tail - head < capacity_) {
        // Room was made (or is being made by a consumer mid-move): retry without sleeping.
        push_waiters_.value.fetch_sub(1, std::memory_order_relaxed);
        std::this_thread::yield();
        continue;
      }
      not_full_.value.wait(epoch, std::memory_order_seq_cst);
      push_waiters_.value.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  // Called after a push that saw a sleeping consumer: wakes one sleeping on the atomic and,
  // if a timed one is registered, one sleeping on the condition variable (an extra wake-up is
  // harmless; a missing one is not). Kept out of line (and cold) so the fast path of
  // try_push / try_pop stays as small as before the timed waits existed: inlined, this code
  // made the compiler save registers on every call.
  [[gnu::cold, gnu::noinline]] void wake_consumer() noexcept {
    not_empty_.value.fetch_add(1, std::memory_order_seq_cst);
    not_empty_.value.notify_one();
    if (timed_.pops.load(std::memory_order_seq_cst) != 0) {
      {
        std::lock_guard lock{timed_.mutex};
        ++timed_.not_empty_epoch;
      }
      timed_.not_empty.notify_one();
    }
  }
  [[gnu::cold, gnu::noinline]] void wake_producer() noexcept {
    not_full_.value.fetch_add(1, std::memory_order_seq_cst);
    not_full_.value.notify_one();
    if (timed_.pushes.load(std::memory_order_seq_cst) != 0) {
      {
        std::lock_guard lock{timed_.mutex};
        ++timed_.not_full_epoch;
      }
      timed_.not_full.notify_one();
    }
  }

  // A bounded wait's pause: false once the deadline passed or a stop was requested.
  static bool may_wait(std::chrono::steady_clock::time_point deadline,
                       const std::stop_token* stop) noexcept {
    if (stop != nullptr && stop->stop_requested()) return false;
    return std::chrono::steady_clock::now() < deadline;
  }

  // Why may_wait() said no.
  static wait_status why_not(const std::stop_token* stop) noexcept {
    if (stop != nullptr && stop->stop_requested()) return wait_status::stopped;
    return wait_status::timed_out;
  }

  // Sleeps on `cv` until `epoch` moves, the deadline passes or a stop is requested.
  static void sleep_on(std::condition_variable_any& cv, std::unique_lock<std::mutex>& lock,
                       const std::uint64_t& epoch, std::chrono::steady_clock::time_point deadline,
                       const std::stop_token* stop) {
    const std::uint64_t seen = epoch;
    const auto moved = [&epoch, seen] { return epoch != seen; };
    if (stop != nullptr) {
      (void)cv.wait_until(lock, *stop, deadline, moved);
    } else {
      (void)cv.wait_until(lock, deadline, moved);
    }
  }

  wait_status copy_then_push(const T& value, std::chrono::steady_clock::time_point deadline,
                             const std::stop_token* stop) {
    if constexpr (std::is_nothrow_copy_constructible_v<T>) {
      return timed_emplace(deadline, stop, value);
    } else {
      T copy(value);
      return timed_emplace(deadline, stop, std::move(copy));
    }
  }

  // emplace_nothrow with a deadline and a stop token (the algorithm's step 4).
  template <class... Args>
  wait_status timed_emplace(std::chrono::steady_clock::time_point deadline,
                            const std::stop_token* stop, Args&&... args) {
    for (backoff wait;;) {
      if (try_emplace_nothrow(std::forward<Args>(args)...)) return wait_status::ready;
      if (closed()) return wait_status::closed;
      if (!may_wait(deadline, stop) || !wait.next()) break;
    }
    for (;;) {
      if (try_emplace_nothrow(std::forward<Args>(args)...)) return wait_status::ready;
      if (closed()) return wait_status::closed;
      if (!may_wait(deadline, stop)) return why_not(stop);
      std::unique_lock lock{timed_.mutex};
      timed_.pushes.fetch_add(1, std::memory_order_seq_cst);
      push_waiters_.value.fetch_add(1, std::memory_order_seq_cst);
      const std::uint64_t tail = tail_.value.load(std::memory_order_seq_cst);
      const std::uint64_t head = head_.value.load(std::memory_order_seq_cst);
      const bool room = head >= (tail & ~closed_bit) || (tail & ~closed_bit) - head < capacity_;
      if ((tail & closed_bit) == 0 && !room) {
        sleep_on(timed_.not_full, lock, timed_.not_full_epoch, deadline, stop);
      }
      push_waiters_.value.fetch_sub(1, std::memory_order_relaxed);
      timed_.pushes.fetch_sub(1, std::memory_order_relaxed);
      if (room) {
        lock.unlock();
        std::this_thread::yield();  // room is being made by a consumer mid-move
      }
    }
  }

  // pop() with a deadline and a stop token (the algorithm's step 4).
  wait_result<T> timed_pop(std::chrono::steady_clock::time_point deadline,
                           const std::stop_token* stop) {
    std::optional<T> result;
    const auto take = [&result](T& value) noexcept { result.emplace(std::move(value)); };
    for (backoff wait;;) {
      if (try_consume(take)) return wait_result<T>{std::in_place, std::move(*result)};
      if (!may_wait(deadline, stop) || !wait.next()) break;
    }
    for (;;) {
      if (try_consume(take)) return wait_result<T>{std::in_place, std::move(*result)};
      {
        const std::uint64_t tail = tail_.value.load(std::memory_order_seq_cst);
        const std::uint64_t head = head_.value.load(std::memory_order_seq_cst);
        if ((tail & closed_bit) != 0 && (tail & ~closed_bit) == head)
          return wait_result<T>{wait_status::closed};
      }
      if (!may_wait(deadline, stop)) return wait_result<T>{why_not(stop)};
      std::unique_lock lock{timed_.mutex};
      timed_.pops.fetch_add(1, std::memory_order_seq_cst);
      pop_waiters_.value.fetch_add(1, std::memory_order_seq_cst);
      // As in pop(): a producer whose tail CAS is ordered before our registration shows up in
      // these loads; one ordered after it sees both counts and bumps the epoch under the mutex,
      // which we hold until the wait releases it.
      const std::uint64_t tail = tail_.value.load(std::memory_order_seq_cst);
      const std::uint64_t head = head_.value.load(std::memory_order_seq_cst);
      const bool empty = (tail & ~closed_bit) == head;
      if (empty && (tail & closed_bit) == 0) {
        sleep_on(timed_.not_empty, lock, timed_.not_empty_epoch, deadline, stop);
      }
      pop_waiters_.value.fetch_sub(1, std::memory_order_relaxed);
      timed_.pops.fetch_sub(1, std::memory_order_relaxed);
      if (!empty) {
        lock.unlock();
        std::this_thread::yield();  // something is queued or being written: retry
      }
    }
  }

  static constexpr unsigned no_shift = std::numeric_limits<unsigned>::max();

  ticket_counter head_;
  ticket_counter tail_;
  wait_word pop_waiters_;
  wait_word not_empty_;
  wait_word push_waiters_;
  wait_word not_full_;
  timed_waiters timed_;
  size_type capacity_;
  unsigned shift_ = no_shift;
  std::unique_ptr<slot[]> slots_;
};

}  // namespace scaling
