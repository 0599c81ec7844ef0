// scaling/architecture/queue_consumers.hpp: competing consumers of a work_queue, on the
// scaling lab's virtual time.
//
// What it is: `queue_consumers<Message>`, N consumers that each take a batch from a
// `work_queue`, hand its deliveries one at a time to a handler (which spends simulated time
// on stations, then acks and calls `next`), take the next batch when the batch is done, and
// look again after `poll_interval` when the queue is empty. A handler that does not call
// `next` ends its consumer's chain (the server it ran on failed): what it held comes back
// after the visibility timeout, and `start()` brings the consumer back.
// The lab's drain needs consumers that stop: after `quiesce()`, a consumer that finds the
// queue empty while `idle()` holds stops, and `wake()` (called after a late publish) starts
// the stopped ones again.
//
// When to pick it: inside a lab composition with asynchronous work (stage 3's notifications,
// stage 4's derived views).
//
//   scaling::architecture::queue_consumers<job> workers{
//       sim, queue, 4, {.batch = 16, .poll_interval = 50ms},
//       [&](std::size_t c, const scaling::delivery<job>& d, std::function<void()> next) {
//         station.serve(c, scaling::architecture::work::write, [&, d, next](scaling::lab::outcome
//         o) {
//           if (o != scaling::lab::outcome::served) return;  // lost: redelivered later
//           (void)queue.ack(d.receipt);
//           next();
//         });
//       },
//       [&] { return nothing_left(); }};
//   workers.start();
//
// Thread safety: none (one simulation).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "scaling/core/clock.hpp"
#include "scaling/lab/simulation.hpp"
#include "scaling/queueing/work_queue.hpp"

namespace scaling::architecture {

struct queue_consumer_options {
  std::size_t batch = 16;  // deliveries taken per receive
  std::chrono::nanoseconds poll_interval = std::chrono::milliseconds{50};  // when empty
};

template <class Message>
class queue_consumers {
 public:
  using queue_type = work_queue<Message, manual_clock>;
  using handler = std::function<void(std::size_t consumer, const delivery<Message>&,
                                     std::function<void()> next)>;

  // `idle()` says whether nothing is left to do (consulted only after quiesce()).
  queue_consumers(lab::simulation& sim, queue_type& queue, std::size_t consumers,
                  queue_consumer_options options, handler handle, std::function<bool()> idle)
      : sim_(&sim),
        queue_(&queue),
        consumers_(consumers),
        options_(options),
        handle_(std::move(handle)),
        idle_(std::move(idle)) {}

  queue_consumers(const queue_consumers&) = delete;
  queue_consumers& operator=(const queue_consumers&) = delete;

  // Every consumer starts polling now (after construction, or after a pause).
  void start() {
    paused_ = false;
    stopped_.clear();
    for (std::size_t c = 0; c < consumers_; ++c)
      poll(c);
  }
  // Consumers stop taking batches (their service is down); start() resumes them.
  void pause() noexcept { paused_ = true; }
  // From now on a consumer that finds the queue empty while idle() holds stops.
  void quiesce() noexcept { quiescing_ = true; }
  // Starts again the consumers that stopped during the drain (a late publish arrived).
  void wake() {
    if (stopped_.empty() || paused_) return;
    std::vector<std::size_t> again;
    again.swap(stopped_);
    for (const std::size_t c : again)
      poll(c);
  }

 private:
  void poll(std::size_t c) {
    if (paused_) return;
    auto batch = queue_->receive(c, options_.batch);
    if (batch.empty()) {
      if (quiescing_ && idle_()) {
        stopped_.push_back(c);
        return;
      }
      sim_->after(options_.poll_interval, [this, c] { poll(c); });
      return;
    }
    process(c, std::make_shared<std::vector<delivery<Message>>>(std::move(batch)), 0);
  }

  void process(std::size_t c, std::shared_ptr<std::vector<delivery<Message>>> batch,
               std::size_t i) {
    if (i == batch->size()) return poll(c);
    const delivery<Message>& d = (*batch)[i];
    handle_(c, d, [this, c, batch, i]() mutable { process(c, std::move(batch), i + 1); });
  }

  lab::simulation* sim_;
  queue_type* queue_;
  std::size_t consumers_;
  queue_consumer_options options_;
  handler handle_;
  std::function<bool()> idle_;
  std::vector<std::size_t> stopped_;
  bool paused_ = false;
  bool quiescing_ = false;
};

}  // namespace scaling::architecture
