// Shared test utilities for the caching tests: a lifetime-counting value, a value whose copy
// can be made to throw, one whose copy assignment can throw halfway, and `tracked` types that do
// both, for exception-safety tests.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <stdexcept>

namespace scaling_test {

// Counts live instances, so tests can prove the cache destroys what it evicts.
struct counted {
  static inline std::atomic<int> live{0};
  int value = 0;
  explicit counted(int v = 0) : value(v) { ++live; }
  counted(const counted& other) : value(other.value) { ++live; }
  counted& operator=(const counted&) = default;
  ~counted() { --live; }
  friend bool operator==(const counted& a, const counted& b) { return a.value == b.value; }
};

// A value whose copy throws while `armed` is set (moves never throw).
struct fragile {
  static inline bool armed = false;
  int value = 0;
  explicit fragile(int v = 0) : value(v) {}
  fragile(const fragile& other) : value(other.value) {
    if (armed) throw std::runtime_error("fragile copy");
  }
  fragile& operator=(const fragile& other) {
    if (armed) throw std::runtime_error("fragile copy");
    value = other.value;
    return *this;
  }
  fragile(fragile&&) noexcept = default;
  fragile& operator=(fragile&&) noexcept = default;
  ~fragile() = default;
};

// A value whose copy assignment, while `armed` is set, copies `first`, then throws before
// copying `second`: an in-place assignment that fails leaves it torn. Its copy construction
// and its moves never throw.
struct torn_on_assign {
  static inline bool armed = false;
  int first = 0;
  int second = 0;
  torn_on_assign(int a, int b) : first(a), second(b) {}
  torn_on_assign(const torn_on_assign&) = default;
  torn_on_assign(torn_on_assign&&) noexcept = default;
  torn_on_assign& operator=(const torn_on_assign& other) {
    first = other.first;
    if (armed) throw std::runtime_error("torn assignment");
    second = other.second;
    return *this;
  }
  torn_on_assign& operator=(torn_on_assign&&) noexcept = default;
  ~torn_on_assign() = default;
};

// The copy budget of a tracked type: after throw_after(n), the next n copies succeed and the
// one after throws std::runtime_error; never_throw() (the default) lifts the limit.
template <class Tag>
struct copy_budget {
  static inline int copies_left = -1;  // < 0: copies never throw
  static void throw_after(int n) { copies_left = n; }
  static void never_throw() { copies_left = -1; }
  static void spend() {
    if (copies_left == 0) throw std::runtime_error("tracked copy");
    if (copies_left > 0) --copies_left;
  }
};

// Counts its live instances (as `counted`) and has a copy budget: copy construction and copy
// assignment spend it; moves count, never throw and spend nothing.
struct tracked : copy_budget<tracked> {
  static inline std::atomic<int> live{0};
  int value = 0;
  explicit tracked(int v = 0) : value(v) { ++live; }
  tracked(const tracked& other) : value(other.value) {
    spend();
    ++live;
  }
  tracked(tracked&& other) noexcept : value(other.value) { ++live; }
  tracked& operator=(const tracked& other) {
    spend();
    value = other.value;
    return *this;
  }
  tracked& operator=(tracked&& other) noexcept {
    value = other.value;
    return *this;
  }
  ~tracked() { --live; }
  friend bool operator==(const tracked& a, const tracked& b) { return a.value == b.value; }
};

// As `tracked`, without move operations: every move is a copy, so it spends the budget too.
struct tracked_copy_only : copy_budget<tracked_copy_only> {
  static inline std::atomic<int> live{0};
  int value = 0;
  explicit tracked_copy_only(int v = 0) : value(v) { ++live; }
  tracked_copy_only(const tracked_copy_only& other) : value(other.value) {
    spend();
    ++live;
  }
  tracked_copy_only& operator=(const tracked_copy_only& other) {
    spend();
    value = other.value;
    return *this;
  }
  ~tracked_copy_only() { --live; }
  friend bool operator==(const tracked_copy_only& a, const tracked_copy_only& b) {
    return a.value == b.value;
  }
};

}  // namespace scaling_test

// Hashing, so the tracked types can be keys.
template <>
struct std::hash<scaling_test::tracked> {
  std::size_t operator()(const scaling_test::tracked& t) const noexcept {
    return std::hash<int>{}(t.value);
  }
};
template <>
struct std::hash<scaling_test::tracked_copy_only> {
  std::size_t operator()(const scaling_test::tracked_copy_only& t) const noexcept {
    return std::hash<int>{}(t.value);
  }
};
