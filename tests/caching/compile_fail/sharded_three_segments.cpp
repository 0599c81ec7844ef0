// scaling::sharded<N> needs N to be a power of two >= 1 (segments are chosen from the top bits
// of a hash): sharded<3> stops the build with a static_assert that names N and the rule.
#include <scaling/caching/cache.hpp>

#ifdef SCALING_COMPILE_FAIL_CONTROL
using policy = scaling::sharded<4>;
#else
using policy = scaling::sharded<3>;
#endif

int main() {
  scaling::cache<int, int, scaling::lru, policy> c{12};
  c.put(1, 1);
  return c.get(1).value_or(0) == 1 ? 0 : 1;
}
