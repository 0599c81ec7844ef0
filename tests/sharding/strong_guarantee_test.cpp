// The strong exception guarantee of every resizable strategy: a call that throws part-way (a
// node's copy, move or hash throws, or an allocation fails) leaves the strategy equal to a twin
// that never saw the call. Each call is repeated with the failure injected at the 1st, 2nd, ...
// operation until it runs through.
#include <cstdint>
#include <cstdlib>
#include <new>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/sharding/bounded_load.hpp>
#include <scaling/sharding/hash_ring.hpp>
#include <scaling/sharding/jump_hash.hpp>
#include <scaling/sharding/ketama_ring.hpp>
#include <scaling/sharding/logical_shards.hpp>
#include <scaling/sharding/maglev.hpp>
#include <scaling/sharding/range_shards.hpp>
#include <scaling/sharding/rendezvous.hpp>

namespace {

// Counts down the fallible operations of the test types (and, when asked, allocations); the
// n-th one throws. Disarmed by default, so the rest of the binary never notices it.
struct fuse {
  static inline long countdown = 0;  // 0: disarmed
  static inline bool allocations = false;

  static void arm(long n, bool count_allocations) {
    allocations = count_allocations;
    countdown = n;
  }
  static void disarm() noexcept {
    countdown = 0;
    allocations = false;
  }
  [[nodiscard]] static bool blow() noexcept {
    if (countdown == 0) return false;
    if (--countdown != 0) return false;
    allocations = false;
    return true;
  }
};

struct fuse_blown {};

void tick() {
  if (fuse::blow()) throw fuse_blown{};
}

// A node whose every copy and move may throw (moves are not noexcept, so std::vector copies on
// reallocation and its middle insert/erase lose their own strong guarantee).
class fragile_node {
 public:
  fragile_node(const char* name) : name_(name) {}  // NOLINT: implicit, as a std::string is
  fragile_node(std::string name) : name_(std::move(name)) {}
  fragile_node(const fragile_node& other) : name_((tick(), other.name_)) {}
  fragile_node(fragile_node&& other) noexcept(false) : name_((tick(), std::move(other.name_))) {}
  fragile_node& operator=(const fragile_node& other) {
    tick();
    name_ = other.name_;
    return *this;
  }
  fragile_node& operator=(fragile_node&& other) noexcept(false) {
    tick();
    name_ = std::move(other.name_);
    return *this;
  }
  ~fragile_node() = default;

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  friend bool operator==(const fragile_node& a, const fragile_node& b) {
    return a.name_ == b.name_;
  }

 private:
  std::string name_;
};

// Hashes keys for free and nodes through the fuse (placing a node may throw).
struct fragile_hash {
  std::uint64_t operator()(const fragile_node& node) const {
    tick();
    return scaling::hash<>{}(node.name());
  }
  std::uint64_t operator()(std::string_view key) const { return scaling::hash<>{}(key); }
  std::uint64_t operator()(const std::string& key) const { return scaling::hash<>{}(key); }
};

}  // namespace

// Allocation failures, injected through the same fuse when it counts allocations. Not inlined,
// so that GCC does not see free() meet a pointer from `new` (-Wmismatched-new-delete).
[[gnu::noinline]] void* operator new(std::size_t size) {
  if (fuse::allocations && fuse::blow()) throw std::bad_alloc{};
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc{};
}
[[gnu::noinline]] void operator delete(void* p) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace {

std::vector<std::string> sample_keys() {
  std::vector<std::string> keys;
  for (int i = 0; i < 600; ++i)
    keys.push_back("key-" + std::to_string(i));
  return keys;
}

template <class Node>
std::string name_of(const Node& node) {
  if constexpr (std::is_same_v<Node, fragile_node>) {
    return node.name();
  } else {
    return std::string{node};
  }
}

// What a lookup sees of a strategy: its size and the owner of every sample key.
template <class Strategy>
std::string lookups(const Strategy& s) {
  std::ostringstream out;
  out << "size " << s.size() << ':';
  for (const std::string& key : sample_keys())
    out << ' ' << name_of(s.node_for(key));
  return out.str();
}

template <class Node, class Hash>
std::string describe(const scaling::hash_ring<Node, Hash>& r) {
  std::ostringstream out;
  out << lookups(r) << " | points " << r.point_count() << " |";
  for (const std::string& key : sample_keys()) {
    for (const Node& node : r.nodes_for(key, 3))
      out << ' ' << name_of(node);
    out << ';';
  }
  for (const Node& node : r.nodes())
    out << ' ' << name_of(node) << '=' << r.weight_of(node);
  return out.str();
}

template <class Node, class Hash>
std::string describe(const scaling::maglev<Node, Hash>& m) {
  std::ostringstream out;
  out << lookups(m) << " | table";
  for (std::uint32_t owner : m.table())
    out << ' ' << owner;
  return out.str();
}

template <class Node, class Hash>
std::string describe(const scaling::rendezvous<Node, Hash>& r) {
  return lookups(r);
}

template <class Node, class Hash>
std::string describe(const scaling::jump_shards<Node, Hash>& j) {
  return lookups(j);
}

template <class Node, class Hash>
std::string describe(const scaling::logical_shards<Node, Hash>& l) {
  std::ostringstream out;
  out << lookups(l) << " |";
  for (std::uint32_t s = 0; s < l.shard_count(); ++s)
    out << ' ' << name_of(l.node_for_shard(s));
  return out.str();
}

template <class Key, class Node>
std::string describe(const scaling::range_shards<Key, Node>& r) {
  std::ostringstream out;
  out << "ranges " << r.range_count() << ':';
  for (const auto& range : r.ranges()) {
    out << " [" << range.lower.value_or("-inf") << ", " << range.upper.value_or("+inf") << ") "
        << name_of(range.node);
  }
  return out.str();
}

template <class Strategy>
std::string describe(const scaling::bounded_load<Strategy>& b) {
  std::ostringstream out;
  out << describe(b.strategy()) << " | loads";
  for (std::size_t load : b.loads())
    out << ' ' << load;
  out << " total " << b.total_load();
  return out.str();
}

std::string describe(const scaling::ketama_ring& k) {
  std::ostringstream out;
  out << lookups(k) << " | points " << k.point_count();
  return out.str();
}

enum class inject : std::uint8_t { node_operations, allocations };

// Runs `call` on copies of `original`, failing the 1st, 2nd, ... fallible operation, and
// checks after every failure that the copy still equals the original, until the call runs
// through (a call with no fallible operation runs through at once).
template <class Strategy, class Call>
void expect_strong(const Strategy& original, Call call, inject what) {
  const std::string expected = describe(original);
  for (long n = 1; n <= 5000; ++n) {
    Strategy s = original;
    bool threw = false;
    fuse::arm(n, what == inject::allocations);
    try {
      call(s);
    } catch (const fuse_blown&) {
      threw = true;
    } catch (const std::bad_alloc&) {
      threw = true;
    }
    fuse::disarm();
    if (!threw) return;
    const std::string now = describe(s);
    if (now != expected) {
      ADD_FAILURE() << "failure injected at operation " << n
                    << " changed the strategy (strong guarantee broken)";
      return;
    }
  }
  ADD_FAILURE() << "the call never ran through";
}

using fragile_ring = scaling::hash_ring<fragile_node, fragile_hash>;
using fragile_maglev = scaling::maglev<fragile_node, fragile_hash>;

std::vector<fragile_node> fragile_names(int n) {
  std::vector<fragile_node> out;
  for (int i = 0; i < n; ++i)
    out.emplace_back("node-" + std::to_string(i));
  return out;
}

TEST(StrongGuarantee, HashRingAddAndRemove) {
  const fragile_ring original{fragile_names(5), {.points_per_node = 16}};
  for (inject what : {inject::node_operations, inject::allocations}) {
    expect_strong(
        original, [](fragile_ring& r) { r.add("node-new"); }, what);
    expect_strong(
        original, [](fragile_ring& r) { r.add("node-new", 3); }, what);
    for (const char* gone : {"node-0", "node-2", "node-4"}) {
      expect_strong(
          original, [gone](fragile_ring& r) { r.remove(gone); }, what);
    }
  }
}

TEST(StrongGuarantee, HashRingWithStringNodes) {
  const scaling::hash_ring<std::string> original{{"a", "b", "c", "d"}, {.points_per_node = 16}};
  using ring = scaling::hash_ring<std::string>;
  expect_strong(
      original, [](ring& r) { r.add("e", 2); }, inject::allocations);
  expect_strong(
      original, [](ring& r) { r.remove("b"); }, inject::allocations);
}

TEST(StrongGuarantee, MaglevAddAndRemove) {
  const fragile_maglev original{fragile_names(5), {.table_size = 101}};
  for (inject what : {inject::node_operations, inject::allocations}) {
    expect_strong(
        original, [](fragile_maglev& m) { m.add("node-11"); }, what);
    expect_strong(
        original, [](fragile_maglev& m) { m.remove("node-2"); }, what);
  }
}

TEST(StrongGuarantee, RendezvousAddAndRemove) {
  using fragile_rendezvous = scaling::rendezvous<fragile_node, fragile_hash>;
  const fragile_rendezvous original{fragile_names(5)};
  for (inject what : {inject::node_operations, inject::allocations}) {
    expect_strong(
        original, [](fragile_rendezvous& r) { r.add("node-new", 2.5); }, what);
    expect_strong(
        original, [](fragile_rendezvous& r) { r.remove("node-1"); }, what);
  }
}

TEST(StrongGuarantee, JumpShardsAddAndRemove) {
  using fragile_jump = scaling::jump_shards<fragile_node, fragile_hash>;
  const fragile_jump original{fragile_names(5)};
  for (inject what : {inject::node_operations, inject::allocations}) {
    expect_strong(
        original, [](fragile_jump& j) { j.add("node-new"); }, what);
    expect_strong(
        original, [](fragile_jump& j) { j.remove("node-4"); }, what);
  }
}

TEST(StrongGuarantee, LogicalShardsAddAndRemove) {
  using fragile_logical = scaling::logical_shards<fragile_node, fragile_hash>;
  const fragile_logical original{64, fragile_names(5)};
  for (inject what : {inject::node_operations, inject::allocations}) {
    expect_strong(
        original, [](fragile_logical& l) { (void)l.add("node-new"); }, what);
    for (const char* gone : {"node-0", "node-2", "node-4"}) {
      expect_strong(
          original, [gone](fragile_logical& l) { (void)l.remove(gone); }, what);
    }
  }
}

TEST(StrongGuarantee, RangeShardsSplitMergeMove) {
  using fragile_ranges = scaling::range_shards<std::string, fragile_node>;
  fragile_ranges original{"node-a"};
  original.split("g", "node-b");
  original.split("p", "node-c");
  original.split("w", "node-d");
  for (inject what : {inject::node_operations, inject::allocations}) {
    expect_strong(
        original, [](fragile_ranges& r) { r.split("k", "node-e"); }, what);
    expect_strong(
        original, [](fragile_ranges& r) { r.merge("g"); }, what);
    expect_strong(
        original, [](fragile_ranges& r) { r.move("p", "node-e"); }, what);

    expect_strong(
        original, [](fragile_ranges& r) { r.move(std::nullopt, "node-e"); }, what);
  }
}

TEST(StrongGuarantee, BoundedLoadAddAndRemove) {
  using bounded = scaling::bounded_load<scaling::hash_ring<std::string>>;
  bounded original{scaling::hash_ring<std::string>{{"a", "b", "c", "d"}, {.points_per_node = 16}},
                   {.balance_factor = 1.25}};
  for (int k = 0; k < 40; ++k)
    (void)original.assign("key-" + std::to_string(k));
  expect_strong(
      original, [](bounded& b) { b.add("e"); }, inject::allocations);
  expect_strong(
      original, [](bounded& b) { b.remove("b"); }, inject::allocations);
}

TEST(StrongGuarantee, KetamaAddAndRemove) {
  const scaling::ketama_ring original{"10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11212"};
  using ring = scaling::ketama_ring;
  expect_strong(
      original, [](ring& k) { k.add("10.0.0.4", 2); }, inject::allocations);

  expect_strong(
      original, [](ring& k) { k.remove("10.0.0.2:11211"); }, inject::allocations);
}

// Every way of building a ring with a zero setting reports the library's own message, whatever
// the compiler makes of a designated initializer next to the node list.
TEST(ConstructionMessages, HashRingZeroPointsPerNode) {
  using ring = scaling::hash_ring<std::string>;
  const std::string points = "scaling::hash_ring: points_per_node must be >= 1 (got 0)";
  const std::string probes = "scaling::hash_ring: probes must be >= 1 (got 0)";
  auto message = [](auto&& build) -> std::string {
    try {
      build();
    } catch (const scaling::invalid_argument& e) {
      return e.what();
    } catch (const std::exception& e) {
      return std::string{"not scaling::invalid_argument: "} + e.what();
    }
    return "no exception";
  };
  EXPECT_EQ(message([] { ring r{{.points_per_node = 0}}; }), points);
  EXPECT_EQ(message([] { ring r({.points_per_node = 0}); }), points);
  EXPECT_EQ(message([] { ring r{scaling::ring_config{.points_per_node = 0}}; }), points);
  EXPECT_EQ(message([] { ring r{{"a", "b"}, {.points_per_node = 0}}; }), points);
  EXPECT_EQ(message([] { ring r({"a", "b"}, {.points_per_node = 0}); }), points);
  EXPECT_EQ(message([] { ring r{{"a"}, {.points_per_node = 0, .probes = 2}}; }), points);
  EXPECT_EQ(message([] { ring r(std::vector<std::string>{"a"}, {.points_per_node = 0}); }), points);
  EXPECT_EQ(message([] {
              const std::vector<std::string> nodes{"a", "b"};
              ring r{nodes, {.points_per_node = 0}};
            }),
            points);
  EXPECT_EQ(message([] { ring r{{.probes = 0}}; }), probes);
  EXPECT_EQ(message([] { ring r{{"a", "b"}, {.probes = 0}}; }), probes);
  EXPECT_EQ(message([] { ring r(std::vector<std::string>{"a"}, {.probes = 0}); }), probes);
}

// A braced config configures the strategy (and a zero in it is reported as such).
TEST(ConstructionMessages, BracedConfigIsAConfigNotANode) {
  const scaling::hash_ring<std::string> r{{.points_per_node = 4}};
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(r.config().points_per_node, 4U);
  const scaling::hash_ring<std::string> two{{"a"}, {.probes = 2}};
  EXPECT_EQ(two.size(), 1U);
  EXPECT_EQ(two.config().probes, 2U);
  const scaling::maglev<std::string> m{{"a"}, {.table_size = 3}};
  EXPECT_EQ(m.size(), 1U);
  EXPECT_EQ(m.table_size(), 3U);
  const scaling::maglev<std::string> empty{{.table_size = 7}};
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(empty.table_size(), 7U);
  try {
    scaling::maglev<std::string> bad{{.table_size = 0}};
    ADD_FAILURE() << "table_size 0 accepted";
  } catch (const scaling::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "scaling::maglev: table_size must be a prime >= 2 (got 0)");
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not scaling::invalid_argument: " << e.what();
  }
}

}  // namespace
