// A replica description's `role` must be a scaling::replica_role: a `role` of another type
// would be ignored (no primary in the set). Rejected at the declaration, naming
// replica_description.
#include <string>
#include <vector>

#include <scaling/replication/replica_selector.hpp>

struct endpoint {
  std::string id;
#ifdef SCALING_COMPILE_FAIL_CONTROL
  scaling::replica_role role = scaling::replica_role::replica;
#else
  std::string role = "replica";  // a string, not a replica_role
#endif
};

int main() {
  scaling::replica_selector<endpoint, scaling::round_robin> reads{
      std::vector<endpoint>{{"a"}, {"b"}}};
  return static_cast<int>(reads.size()) - 2;
}
