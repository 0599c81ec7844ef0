// scaling/asio/detail/parking.hpp: where a suspended asynchronous operation waits.
//
// What it is: the piece shared by the Asio integration. An operation that cannot proceed
// (queue empty, queue full, nothing to receive) moves its composed-operation object into a
// `parking_spot`; whoever can make progress for it (a producer, a consumer, a deadline timer,
// a cancellation handler) calls signal(), which takes the object out and posts it to its own
// executor. A signal that arrives while the operation is running rather than parked (or before
// it first ran) is kept and handed over at the next park() or take(), so no wake-up is lost.
//
// Thread safety: signal() and park() may race from any threads (one small mutex per spot).
#pragma once

#include <memory>
#include <mutex>
#include <utility>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/post.hpp>

namespace scaling::asio::detail {

// Why a parked operation was resumed. Values are bits so pending signals can accumulate.
enum wake_reason : unsigned { wake_ready = 1, wake_timeout = 2, wake_cancelled = 4 };

class parked_base {
 public:
  virtual ~parked_base() = default;
  virtual void resume(unsigned reasons) = 0;
};

template <class Self>
class parked final : public parked_base {
 public:
  explicit parked(Self&& self) : self_(std::move(self)) {}
  void resume(unsigned reasons) override {
    // Never resumed inline: the signalling thread may be a producer on another executor.
    auto executor = self_.get_executor();
    boost::asio::post(executor, [self = std::move(self_), reasons]() mutable { self(reasons); });
  }

 private:
  Self self_;
};

class parking_spot {
 public:
  // Resumes the parked operation with `reason`, or records it for the next park().
  void signal(unsigned reason) {
    std::unique_ptr<parked_base> op;
    {
      std::lock_guard lock{mutex_};
      if (!op_) {
        pending_ |= reason;
        return;
      }
      op = std::move(op_);
    }
    op->resume(reason);
  }

  // Parks `self` unless a signal is pending; returns the pending reasons (0 when parked).
  template <class Self>
  unsigned park(Self& self) {
    std::lock_guard lock{mutex_};
    if (pending_ != 0) return std::exchange(pending_, 0u);
    op_ = std::make_unique<parked<Self>>(std::move(self));
    return 0;
  }

  // Drops pending signals of the given kinds (a stale readiness hint, for example).
  void clear(unsigned reasons) {
    std::lock_guard lock{mutex_};
    pending_ &= ~reasons;
  }

  // Takes the pending signals of the given kinds (returns them, and they are no longer pending):
  // how a running operation learns of a cancellation that arrived before it parked.
  [[nodiscard]] unsigned take(unsigned reasons) {
    std::lock_guard lock{mutex_};
    const unsigned taken = pending_ & reasons;
    pending_ &= ~reasons;
    return taken;
  }

 private:
  std::mutex mutex_;
  std::unique_ptr<parked_base> op_;
  unsigned pending_ = 0;
};

// Forwards a cancellation signal from an operation's cancellation slot to its spot.
struct cancel_to_spot {
  explicit cancel_to_spot(const std::shared_ptr<parking_spot>& s) : spot(s) {}
  std::weak_ptr<parking_spot> spot;
  template <class Type>
  void operator()(Type) const {
    if (auto s = spot.lock()) s->signal(wake_cancelled);
  }
};

// Connects a composed operation's cancellation slot to `spot`. Called when the operation is
// initiated, so a signal emitted before the operation first runs is kept in the spot (see
// parking_spot::take) instead of being lost, and again each time it runs, because
// async_compose clears the slot on every invocation.
template <class Self>
void connect_cancellation(Self& self, const std::shared_ptr<parking_spot>& spot) {
  auto slot = self.get_cancellation_state().slot();
  if (slot.is_connected()) slot.template emplace<cancel_to_spot>(spot);
}

}  // namespace scaling::asio::detail
