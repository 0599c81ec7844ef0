// scaling/core/hash.hpp: the library's default hash, XXH3 over a platform-independent encoding.
//
// What it is: `scaling::hash<T>`, a seedable 64-bit hash for strings, string views, byte spans,
// integers and enums, built on xxHash's XXH3 (used header-only). `scaling::hash<>` is the
// transparent form that hashes any of those types; it is the default `Hash` of the sharding
// strategies (ketama_ring excepted: MD5, as libmemcached) and of a cache's segment choice
// (a cache's own index hashes integers with std::hash, which its flat map mixes).
// `scaling::hasher_for<H, Key>` is the concept those templates use.
//
// When to pick it: whenever a key must land on the same shard in every process, on every
// platform and in every build: unlike std::hash, the result is specified. Strings hash as their
// bytes (XXH3_64bits_withSeed), integers and enums as their value widened to 64 bits and
// written little-endian (so 7, 7u and int64_t{7} agree), byte spans as their bytes.
// Pick something else for adversarial keys where a keyed cryptographic hash is needed.
//
//   scaling::hash<std::string_view> h;           // seed 0
//   std::uint64_t a = h("user:42");              // == XXH3_64bits("user:42", 7)
//   scaling::hash<> any{/*seed=*/7};             // transparent, seeded
//   std::uint64_t b = any(std::uint32_t{42});
//
// Thread safety: stateless apart from the seed; const calls may run concurrently.
// Complexity: O(length); ~2 ns for an 11-byte key.
#pragma once

#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#endif
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>

#include <xxhash.h>

namespace scaling {

// A hasher usable for keys of type Key:
//   - copyable, so containers can hold and hand out copies;
//   - callable on a const Key& through a const reference, returning a value that converts to
//     std::uint64_t (std::hash qualifies on 64-bit platforms; only scaling::hash is portable).
template <class H, class Key>
concept hasher_for = std::copy_constructible<H> && requires(const H& hasher, const Key& key) {
  { hasher(key) } -> std::convertible_to<std::uint64_t>;
};

// Types scaling::hash knows how to encode without help:
//   - integers (bool and character types included) and enums: by value;
//   - anything convertible to std::string_view: by its characters;
//   - anything convertible to std::span<const std::byte>: by its bytes.
// Floating-point keys are excluded on purpose: -0.0 == 0.0 and NaN != NaN make them poor keys.
template <class T>
concept default_hashable = std::is_integral_v<T> || std::is_enum_v<T> ||
    std::is_convertible_v<const T&, std::string_view> ||
    std::is_convertible_v<const T&, std::span<const std::byte>>;

namespace detail {

inline std::uint64_t hash_bytes(const void* data, std::size_t size, std::uint64_t seed) noexcept {
  return XXH3_64bits_withSeed(data, size, seed);
}

inline std::uint64_t to_little_endian(std::uint64_t value) noexcept {
  if constexpr (std::endian::native == std::endian::big) {
    std::uint64_t swapped = 0;
    for (int i = 0; i < 8; ++i) {
      swapped = (swapped << 8) | (value & 0xffu);
      value >>= 8;
    }
    return swapped;
  } else {
    return value;
  }
}

template <class T>
std::uint64_t hash_value(const T& value, std::uint64_t seed) noexcept {
  if constexpr (std::is_enum_v<T>) {
    return hash_value(static_cast<std::underlying_type_t<T>>(value), seed);
  } else if constexpr (std::is_integral_v<T>) {
    // Sign-extend signed values so that equal values of different widths agree.
    const std::uint64_t widened = std::is_signed_v<T>
                                      ? static_cast<std::uint64_t>(static_cast<std::int64_t>(value))
                                      : static_cast<std::uint64_t>(value);
    const std::uint64_t encoded = to_little_endian(widened);
    return hash_bytes(&encoded, sizeof encoded, seed);
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    const std::string_view text{value};
    return hash_bytes(text.data(), text.size(), seed);
  } else {
    const std::span<const std::byte> bytes{value};
    return hash_bytes(bytes.data(), bytes.size(), seed);
  }
}

}  // namespace detail

// Seedable XXH3 hash of one default_hashable type; `hash<>` (T = void) is transparent.
//
// Template parameters: T, a default_hashable type, or void for the transparent form.
// Equal seeds give equal results across processes, platforms and builds.
template <class T = void>
requires std::is_void_v<T> || default_hashable<T>
class hash {
 public:
  // XXH3 is a full-avalanche hash: hash tables (Boost.Unordered) can skip their post-mixing.
  using is_avalanching = std::true_type;

  constexpr hash() noexcept = default;
  constexpr explicit hash(std::uint64_t seed) noexcept : seed_(seed) {}

  [[nodiscard]] std::uint64_t operator()(const T& value) const noexcept {
    return detail::hash_value(value, seed_);
  }

  [[nodiscard]] constexpr std::uint64_t seed() const noexcept { return seed_; }

 private:
  std::uint64_t seed_ = 0;
};

// The transparent form: hashes any default_hashable type, so a container keyed by std::string
// can be probed with a std::string_view without a copy.
template <>
class hash<void> {
 public:
  using is_transparent = void;
  using is_avalanching = std::true_type;

  constexpr hash() noexcept = default;
  constexpr explicit hash(std::uint64_t seed) noexcept : seed_(seed) {}

  template <default_hashable T>
  [[nodiscard]] std::uint64_t operator()(const T& value) const noexcept {
    return detail::hash_value(value, seed_);
  }

  [[nodiscard]] constexpr std::uint64_t seed() const noexcept { return seed_; }

 private:
  std::uint64_t seed_ = 0;
};

// Mixes a 64-bit value into a well-distributed 64-bit value (the murmur3/splitmix finalizer).
// Cheap (~1 ns); used where a hash must be re-derived from another, e.g. a second probe.
[[nodiscard]] constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

}  // namespace scaling
