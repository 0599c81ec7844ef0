// A concurrency tag must satisfy scaling::concurrency_policy: a hand-written tag with 3 segments
// (not a power of two) is rejected where the cache is declared, naming the concept. sharded<3>
// itself is rejected by its own static_assert (sharded_three_segments.cpp).
#include <scaling/caching/cache.hpp>

#ifdef SCALING_COMPILE_FAIL_CONTROL
using policy = scaling::sharded<4>;
#else
struct policy {
  static constexpr std::size_t segments = 3;
  using mutex_type = std::mutex;
};
#endif

int main() {
  scaling::cache<int, int, scaling::lru, policy> c{12};
  c.put(1, 1);
  return c.get(1).value_or(0) == 1 ? 0 : 1;
}
