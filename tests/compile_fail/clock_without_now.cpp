// A component's clock must satisfy scaling::clock_source: a type without now() is rejected at
// the point of use, naming the concept.
#include <chrono>

#include <scaling/core/clock.hpp>

struct not_a_clock {
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<std::chrono::steady_clock, duration>;
#ifdef SCALING_COMPILE_FAIL_CONTROL
  time_point now() const {
    return time_point{};
  }
#endif
};

template <scaling::clock_source Clock>
auto elapsed(const Clock& clock) {
  return clock.now().time_since_epoch();
}

int main() {
  return static_cast<int>(elapsed(not_a_clock{}).count());
}
