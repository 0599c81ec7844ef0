// A cache's eviction policy must satisfy scaling::eviction_policy: a tag whose state lacks
// evict() is rejected at the declaration, naming the concept.
#include <cstddef>
#include <cstdint>

#include <scaling/caching/cache.hpp>

struct half_a_policy {
  class state {
   public:
    explicit state(std::size_t /*capacity*/) {}
    void reserve(std::size_t /*slots*/) {}
    void on_insert(std::uint32_t /*slot*/, std::uint64_t /*hash*/, std::uint32_t /*w*/) {}
    void on_hit(std::uint32_t /*slot*/, std::uint64_t /*hash*/) {}
    void on_miss(std::uint64_t /*hash*/) {}
    void on_update(std::uint32_t, std::uint64_t, std::uint32_t, std::uint32_t) {}
    void on_remove(std::uint32_t /*slot*/) {}
    void clear() {}
#ifdef SCALING_COMPILE_FAIL_CONTROL
    std::uint32_t evict(std::uint32_t /*incoming*/) {
      return 0;
    }
#endif
  };
};

int main() {
  scaling::cache<int, int, half_a_policy> c{10};
  c.put(1, 1);
  return c.get(1).value_or(0) == 1 ? 0 : 1;
}
