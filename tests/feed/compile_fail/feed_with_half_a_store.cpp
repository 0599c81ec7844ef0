// A feed_service's timeline store must satisfy scaling::timeline_store: a store without
// read() is rejected at the declaration, naming the concept.
#include <cstddef>
#include <optional>
#include <span>
#include <vector>

#include <scaling/feed/feed_service.hpp>

struct half_a_store {
  struct options_type {};
  struct timeline {};
  half_a_store(options_type /*options*/, const scaling::feed_options& /*feed*/) {}
  static std::size_t weight(const scaling::feed_options& /*o*/) { return 1024; }
  bool write(scaling::feed_user_id, timeline&, const scaling::feed_entry&, std::size_t) {
    return true;
  }
  std::size_t backfill(scaling::feed_user_id, timeline&, std::span<const scaling::feed_entry>,
                       std::size_t) {
    return 0;
  }
  void erase_post(scaling::feed_user_id, timeline&, const scaling::feed_entry&) {}
  void erase_author(scaling::feed_user_id, timeline&, scaling::feed_user_id) {}
  void assign(scaling::feed_user_id, timeline&, std::vector<scaling::feed_entry>&&,
              std::optional<scaling::feed_entry>) {}
  bool needs_rebuild(scaling::feed_user_id, timeline&, std::size_t) { return false; }
#ifdef SCALING_COMPILE_FAIL_CONTROL
  std::optional<std::vector<scaling::feed_entry>> read(scaling::feed_user_id, timeline&,
                                                       std::size_t) {
    return std::vector<scaling::feed_entry>{};
  }
#endif
  void release(scaling::feed_user_id, timeline&) {}
  void flush() {}
  std::size_t stored_entries() const {
    return 0;
  }
  std::size_t stored_bytes() const {
    return 0;
  }
};

int main() {
  scaling::feed_service<scaling::fan_out_on_write, std::chrono::steady_clock, half_a_store> feed{
      {.fan_out_workers = 0}};
  return feed.follow(1, 2) ? 0 : 1;
}
