// A read_through's cache must play the read_cache role: a cache that cannot erase (so a write
// could never invalidate it) is rejected at the declaration, naming the concept.
#include <cstdint>
#include <optional>

#include <scaling/architecture/read_through.hpp>

struct write_once_cache {
  std::optional<int> get(std::uint64_t /*key*/) { return std::nullopt; }
  void put(std::uint64_t /*key*/, int /*value*/) {}
#ifdef SCALING_COMPILE_FAIL_CONTROL
  void erase(std::uint64_t /*key*/) {}
#endif
};

struct source {
  void async_read(std::uint64_t /*key*/, std::uint64_t /*min_position*/,
                  scaling::architecture::read_handler<int> done) {
    done({scaling::architecture::reply_status::ok, 1, 2});
  }
};

int main() {
  write_once_cache cache;
  source s;
  scaling::architecture::read_through<std::uint64_t, int, write_once_cache, source> reads{cache, s};
  int got = 0;
  reads.async_get(1, [&](scaling::architecture::reply<int> r) { got = r.value.value_or(0); });
  return got == 1 ? 0 : 1;
}
