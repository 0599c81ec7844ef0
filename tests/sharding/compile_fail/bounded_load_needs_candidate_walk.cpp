// Bounded loads need a strategy that can list fallback candidates (scaling::candidate_walk):
// rendezvous hashing has no such order, so wrapping it must be rejected naming the concept.
#include <string>

#include <scaling/sharding/bounded_load.hpp>
#include <scaling/sharding/hash_ring.hpp>
#include <scaling/sharding/rendezvous.hpp>

#ifdef SCALING_COMPILE_FAIL_CONTROL
using strategy = scaling::hash_ring<std::string>;
#else
using strategy = scaling::rendezvous<std::string>;
#endif

int main() {
  scaling::bounded_load<strategy> lb{strategy{"a", "b"}};
  return lb.assign("k").empty() ? 1 : 0;
}
