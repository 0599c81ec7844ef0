// sharded<N> needs N to be a power of two (segments are chosen from hash bits); sharded<3> is
// rejected where the cache is declared, naming the concept.
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
