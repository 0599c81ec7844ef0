// Code written against scaling::shard_strategy rejects a type without node_for(), naming the
// concept.
#include <cstddef>
#include <string>
#include <vector>

#include <scaling/sharding/hash_ring.hpp>
#include <scaling/sharding/migration.hpp>

struct node_list {
  using node_type = std::string;
#ifdef SCALING_COMPILE_FAIL_CONTROL
  const std::string& node_for(std::string_view) const {
    return node;
  }
#endif
  std::size_t size() const {
    return 1;
  }
  bool empty() const {
    return false;
  }
  bool contains(const std::string&) const {
    return true;
  }
  std::string node = "a";
};

int main() {
  const std::vector<std::string> keys{"k"};
  return scaling::moved_fraction(node_list{}, node_list{}, keys) > 0 ? 1 : 0;
}
