// A replica_selector's Policy must satisfy scaling::selection_policy: a type without a nested
// `state` that can pick is rejected at the declaration, naming the concept.
#include <string>
#include <vector>

#include <scaling/replication/replica_selector.hpp>

struct endpoint {
  std::string id;
};

#ifdef SCALING_COMPILE_FAIL_CONTROL
using policy = scaling::least_outstanding;
#else
struct policy {  // looks like a policy, but has no `state` with pick()
  int choice = 0;
};
#endif

int main() {
  scaling::replica_selector<endpoint, policy> reads{std::vector<endpoint>{{"a"}, {"b"}}};
  return static_cast<int>(reads.size()) - 2;
}
