// scaling/sharding/detail/common.hpp: pieces the sharding strategies share (not for users).
//
// - node_name: the bytes a strategy hashes to place a node (a string node's characters; for
//   any other node, its Hash value written as 8 little-endian bytes);
// - throw_empty: the one message for a lookup on an empty node set;
// - fast_modulo: exact `x % d` for a fixed 32-bit divisor with two multiplications instead of a
//   division (Lemire, Kaser, Kurz, "Faster remainder by direct computation", 2019);
// - sorted_points: positions sorted on a circle with a top-bits index, so finding the first
//   position >= h costs one table read and a search over ~1 element instead of log2(n) misses;
// - visit_circle: the walk behind visit_candidates, over a circle of node indices (a ring's point
//   owners, a Maglev table) from a start slot onwards;
// - insert_strong, erase_strong, erase_swap_last_strong: std::vector edits with the strong
//   guarantee for any element type. std::vector gives it for a middle insert or an erase only
//   when the element's move cannot throw; a user's Node need not promise that, so these edit in
//   place when it does and otherwise build the new vector aside and swap it in.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <scaling/core/config.hpp>
#include <scaling/core/error.hpp>
#include <scaling/core/hash.hpp>

namespace scaling::detail {

template <class Node>
inline constexpr bool is_string_node_v = std::is_convertible_v<const Node&, std::string_view>;

// The bytes that name a node for placement. String nodes are named by their characters, so
// placement is independent of the hasher's treatment of the node type; other nodes by the
// 8-byte little-endian encoding of hash(node).
template <class Node, class Hash>
std::string node_name(const Node& node, const Hash& hash) {
  if constexpr (is_string_node_v<Node>) {
    return std::string{std::string_view{node}};
  } else {
    const std::uint64_t encoded = to_little_endian(static_cast<std::uint64_t>(hash(node)));
    std::string name(sizeof encoded, '\0');
    for (std::size_t i = 0; i < sizeof encoded; ++i) {
      name[i] = static_cast<char>((encoded >> (8 * i)) & 0xffu);
    }
    return name;
  }
}

[[noreturn]] inline void throw_empty(std::string_view component) {
  throw_invalid_argument(component, "nodes", "must not be empty for a lookup");
}

// Exact remainder by a divisor below 2^32, for any 64-bit dividend.
class fast_modulo {
 public:
  fast_modulo() noexcept = default;
  explicit fast_modulo(std::uint32_t divisor) noexcept
      : divisor_(divisor), magic_(~u128{0} / divisor + 1) {}

  [[nodiscard]] std::uint32_t operator()(std::uint64_t x) const noexcept {
    const u128 low_bits = magic_ * x;
    const u128 bottom = (static_cast<u128>(static_cast<std::uint64_t>(low_bits)) * divisor_) >> 64;
    const u128 top = (low_bits >> 64) * divisor_;
    return static_cast<std::uint32_t>((bottom + top) >> 64);
  }
  [[nodiscard]] std::uint32_t divisor() const noexcept { return divisor_; }

 private:
  __extension__ using u128 = unsigned __int128;
  std::uint32_t divisor_ = 1;
  u128 magic_ = 0;
};

// Positions on a circle of 2^Bits values (Position is std::uint64_t or std::uint32_t), sorted,
// each with the index of the node that owns it.
template <class Position>
class sorted_points {
 public:
  struct point {
    Position position;
    std::uint32_t owner;
  };

  // Takes points in any order; sorts by position, then owner (a deterministic tie-break).
  // Strong guarantee: the new table is built aside and swapped in.
  void assign(std::vector<point> points) {
    std::sort(points.begin(), points.end(), [](const point& a, const point& b) {
      return a.position != b.position ? a.position < b.position : a.owner < b.owner;
    });
    sorted_points next;
    next.positions_.resize(points.size());
    next.owners_.resize(points.size());
    for (std::size_t i = 0; i < points.size(); ++i) {
      next.positions_[i] = points[i].position;
      next.owners_[i] = points[i].owner;
    }
    next.build_index();
    swap(next);
  }

  void swap(sorted_points& other) noexcept {
    positions_.swap(other.positions_);
    owners_.swap(other.owners_);
    index_.swap(other.index_);
    std::swap(shift_, other.shift_);
  }

  [[nodiscard]] std::size_t size() const noexcept { return positions_.size(); }
  [[nodiscard]] bool empty() const noexcept { return positions_.empty(); }
  [[nodiscard]] Position position(std::size_t i) const noexcept { return positions_[i]; }
  [[nodiscard]] std::uint32_t owner(std::size_t i) const noexcept { return owners_[i]; }
  [[nodiscard]] const std::vector<Position>& positions() const noexcept { return positions_; }
  [[nodiscard]] const std::vector<std::uint32_t>& owners() const noexcept { return owners_; }

  // Index of the first point whose position is >= h, wrapping to 0 past the last point.
  // Precondition: !empty().
  [[nodiscard]] std::size_t successor(Position h) const noexcept {
    SCALING_ASSERT(!positions_.empty(), "successor() needs at least one point");
    const std::size_t bucket = static_cast<std::size_t>(h >> shift_);
    const auto first = positions_.begin() + index_[bucket];
    const auto last = positions_.begin() + index_[bucket + 1];
    // A bucket holds about one point: a short linear scan beats a binary search's branches.
    auto it = first;
    if (last - first > 8) {
      it = std::lower_bound(first, last, h);  // keeps the worst case O(log n)
    } else {
      while (it != last && *it < h)
        ++it;
    }
    const auto found = static_cast<std::size_t>(it - positions_.begin());
    return found == positions_.size() ? 0 : found;
  }

 private:
  void build_index() {
    constexpr int position_bits = static_cast<int>(sizeof(Position) * 8);
    // About one point per bucket; at least 2 buckets so the shift stays below the width.
    const int wanted = std::max(1, static_cast<int>(std::bit_width(positions_.size())));
    const int bits = std::min(wanted, std::min(24, position_bits - 1));
    const std::size_t buckets = std::size_t{1} << bits;
    std::vector<std::uint32_t> index(buckets + 1, static_cast<std::uint32_t>(positions_.size()));
    const int shift = position_bits - bits;
    std::size_t p = 0;
    for (std::size_t b = 0; b < buckets; ++b) {
      while (p < positions_.size() && static_cast<std::size_t>(positions_[p] >> shift) < b)
        ++p;
      index[b] = static_cast<std::uint32_t>(p);
    }
    index_.swap(index);
    shift_ = shift;
  }

  std::vector<Position> positions_;
  std::vector<std::uint32_t> owners_;
  std::vector<std::uint32_t> index_{0, 0};
  int shift_ = static_cast<int>(sizeof(Position) * 8) - 1;
};

// Calls visit(owners[i]) for i = start, start + 1, ..., wrapping to 0 past the end, until visit
// returns true or every entry was visited once. Precondition: start < owners.size(), or owners is
// empty (nothing is visited).
template <class Visitor>
void visit_circle(const std::vector<std::uint32_t>& owners, std::size_t start, Visitor& visit) {
  const std::size_t count = owners.size();
  std::size_t at = start;
  for (std::size_t step = 0; step < count; ++step) {
    if (visit(static_cast<std::size_t>(owners[at]))) return;
    at = at + 1 == count ? 0 : at + 1;
  }
}

// Inserts a copy of `value` before position `at` (<= v.size()). Strong guarantee for any T.
template <class T>
void insert_strong(std::vector<T>& v, std::size_t at, const T& value) {
  if constexpr (std::is_nothrow_move_constructible_v<T> && std::is_nothrow_move_assignable_v<T>) {
    T copy(value);
    v.reserve(v.size() + 1);  // reallocates with nothrow moves: strong
    v.insert(v.begin() + static_cast<std::ptrdiff_t>(at), std::move(copy));  // cannot throw now
  } else {
    std::vector<T> next;
    next.reserve(v.size() + 1);
    next.insert(next.end(), v.begin(), v.begin() + static_cast<std::ptrdiff_t>(at));
    next.push_back(value);
    next.insert(next.end(), v.begin() + static_cast<std::ptrdiff_t>(at), v.end());
    v.swap(next);
  }
}

// Erases v[at], keeping the order of the rest. Strong guarantee for any T.
template <class T>
void erase_strong(std::vector<T>& v, std::size_t at) {
  if constexpr (std::is_nothrow_move_assignable_v<T>) {
    v.erase(v.begin() + static_cast<std::ptrdiff_t>(at));
  } else {
    std::vector<T> next;
    next.reserve(v.size() - 1);
    next.insert(next.end(), v.begin(), v.begin() + static_cast<std::ptrdiff_t>(at));
    next.insert(next.end(), v.begin() + static_cast<std::ptrdiff_t>(at) + 1, v.end());
    v.swap(next);
  }
}

// Erases v[at] by moving the last element into its place (O(1) when T's move cannot throw).
// Strong guarantee for any T.
template <class T>
void erase_swap_last_strong(std::vector<T>& v, std::size_t at) {
  if constexpr (std::is_nothrow_move_assignable_v<T>) {
    if (at + 1 != v.size()) v[at] = std::move(v.back());
    v.pop_back();
  } else {
    std::vector<T> next;
    next.reserve(v.size() - 1);
    for (std::size_t i = 0; i + 1 < v.size(); ++i)
      next.push_back(i == at ? v.back() : v[i]);
    v.swap(next);
  }
}

}  // namespace scaling::detail
