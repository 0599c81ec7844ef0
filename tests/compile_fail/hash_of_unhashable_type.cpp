// scaling::hash only accepts types with a specified, portable encoding: a double key must be
// rejected (-0.0 == 0.0 and NaN != NaN would make shard placement surprising).
#include <scaling/core/hash.hpp>

#ifdef SCALING_COMPILE_FAIL_CONTROL
using key = long;
#else
using key = double;
#endif

int main() {
  return static_cast<int>(scaling::hash<key>{}(key{1}) & 1U);
}
