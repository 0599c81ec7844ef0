// loading_cache checks its key with scaling::cache_key too, at its own declaration.
#include <cstddef>
#include <functional>
#include <optional>

#include <scaling/caching/loading_cache.hpp>

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
  scaling::loading_cache<point, int> c{10};
  const auto v = c.get_or_load(point{1, 2}, [](const point& p) { return std::optional<int>{p.x}; });
  return v.value_or(0) == 1 ? 0 : 1;
}
