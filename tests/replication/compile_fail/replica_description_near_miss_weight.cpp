// A replica description must not have a member named like `weight` but not quite: the selector
// reads `weight` by name and would silently give every replica weight 1. Rejected at the
// declaration, naming replica_description (and detail::replica_near_miss).
#include <cstdint>
#include <string>
#include <vector>

#include <scaling/replication/replica_selector.hpp>

struct endpoint {
  std::string id;
#ifdef SCALING_COMPILE_FAIL_CONTROL
  std::uint32_t weight = 1;
#else
  std::uint32_t wieght = 1;  // misspelt
#endif
};

int main() {
  scaling::replica_selector<endpoint, scaling::random_choice> reads{
      std::vector<endpoint>{{"a", 1}, {"b", 3}}};
  return static_cast<int>(reads.size()) - 2;
}
