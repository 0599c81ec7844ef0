// A cache's key must satisfy scaling::cache_key: a type with no hash (neither
// scaling::default_hashable nor a std::hash specialization) is rejected at the declaration,
// naming the concept, instead of deep inside the hash table.
#include <cstddef>
#include <functional>

#include <scaling/caching/cache.hpp>

struct point {
  int x = 0;
  int y = 0;
  friend bool operator==(const point&, const point&) = default;
};

#ifdef SCALING_COMPILE_FAIL_CONTROL
template <>
struct std::hash<point> {
  std::size_t operator()(const point& p) const noexcept {
    return std::hash<int>{}(p.x) * 31U + std::hash<int>{}(p.y);
  }
};
#endif

int main() {
  scaling::cache<point, int> c{10};
  c.put(point{1, 2}, 1);
  return c.get(point{1, 2}).value_or(0) == 1 ? 0 : 1;
}
