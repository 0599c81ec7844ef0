// A queue element must satisfy scaling::queue_element: a type whose move constructor may throw
// is rejected at the declaration, naming the concept (a throw after a slot is claimed would
// leave that slot empty forever).
#include <scaling/queueing/mpmc_queue.hpp>

struct throwing_move {
  throwing_move() = default;
#ifdef SCALING_COMPILE_FAIL_CONTROL
  throwing_move(throwing_move&&) noexcept = default;
#else
  throwing_move(throwing_move&&) noexcept(false) {}
#endif
};

int main() {
  scaling::mpmc_queue<throwing_move> q{4};
  return q.try_push(throwing_move{}) ? 0 : 1;
}
