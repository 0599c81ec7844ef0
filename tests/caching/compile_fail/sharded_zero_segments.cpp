// scaling::sharded<N> needs at least one segment: sharded<0> stops the build with a
// static_assert that names N and the rule (a power of two >= 1).
#include <scaling/caching/cache.hpp>

#ifdef SCALING_COMPILE_FAIL_CONTROL
using policy = scaling::sharded<1>;
#else
using policy = scaling::sharded<0>;
#endif

int main() {
  scaling::cache<int, int, scaling::lru, policy> c{12};
  c.put(1, 1);
  return c.get(1).value_or(0) == 1 ? 0 : 1;
}
