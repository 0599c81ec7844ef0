// Shared test utilities for the caching tests: a lifetime-counting value and a value whose copy
// can be made to throw.
#pragma once

#include <atomic>
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

}  // namespace scaling_test
