// A replica description must not have a member named like `zone` but not quite (`zone_name`):
// zone_aware reads `zone` by name and would treat every replica as zone-less. Rejected at the
// declaration, naming replica_description (and detail::replica_near_miss).
#include <string>
#include <vector>

#include <scaling/replication/replica_selector.hpp>

struct endpoint {
  std::string id;
#ifdef SCALING_COMPILE_FAIL_CONTROL
  std::string zone;
#else
  std::string zone_name;  // not the name the selector reads
#endif
};

int main() {
  using policy = scaling::zone_aware<scaling::round_robin>;
  scaling::replica_selector<endpoint, policy> reads{
      std::vector<endpoint>{{"a", "eu-1"}, {"b", "eu-2"}}};
  return static_cast<int>(reads.size()) - 2;
}
