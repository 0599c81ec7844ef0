#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/unordered/unordered_flat_map.hpp>
#include <gtest/gtest.h>

#include <scaling/core/hash.hpp>

namespace {

enum class color : std::uint8_t { red = 1, green = 2 };
enum plain_enum { plain_a = 5 };

std::uint64_t xxh3_of_u64_le(std::uint64_t value, std::uint64_t seed = 0) {
  std::array<unsigned char, 8> bytes{};
  for (std::size_t i = 0; i < 8; ++i)
    bytes[i] = static_cast<unsigned char>(value >> (8 * i));
  return XXH3_64bits_withSeed(bytes.data(), bytes.size(), seed);
}

TEST(Hash, KnownAnswersFromXxhash) {
  EXPECT_EQ(XXH3_64bits("", 0), 0x2d06800538d394c2ULL);
  EXPECT_EQ(XXH64("", 0, 0), 0xef46db3751d8e999ULL);
  EXPECT_EQ(XXH64("abc", 3, 0), 0x44bc2cf5ad770999ULL);
  EXPECT_EQ(scaling::hash<std::string_view>{}(""), 0x2d06800538d394c2ULL);
  EXPECT_EQ(scaling::hash<>{}(std::string{}), 0x2d06800538d394c2ULL);
}

TEST(Hash, StringsHashAsTheirBytes) {
  const std::string key = "user:42";
  EXPECT_EQ(scaling::hash<std::string>{}(key), XXH3_64bits(key.data(), key.size()));
  EXPECT_EQ(scaling::hash<std::string>{}(key), scaling::hash<std::string_view>{}(key));
  EXPECT_EQ(scaling::hash<>{}(key), scaling::hash<>{}(std::string_view{key}));
  EXPECT_EQ(scaling::hash<>{}(key), scaling::hash<>{}("user:42"));
  EXPECT_NE(scaling::hash<>{}("user:42"), scaling::hash<>{}("user:43"));
}

TEST(Hash, SeedChangesTheResultAndZeroSeedIsUnseeded) {
  const std::string_view key = "abc";
  EXPECT_EQ(scaling::hash<std::string_view>{0}(key), XXH3_64bits(key.data(), key.size()));
  EXPECT_EQ(scaling::hash<std::string_view>{99}(key),
            XXH3_64bits_withSeed(key.data(), key.size(), 99));
  EXPECT_NE(scaling::hash<std::string_view>{1}(key), scaling::hash<std::string_view>{2}(key));
  EXPECT_EQ(scaling::hash<>{7}.seed(), 7U);
}

TEST(Hash, IntegersHashAsLittleEndianSixtyFourBitValues) {
  EXPECT_EQ(scaling::hash<std::uint32_t>{}(7U), xxh3_of_u64_le(7));
  EXPECT_EQ(scaling::hash<std::int64_t>{}(7), xxh3_of_u64_le(7));
  EXPECT_EQ(scaling::hash<std::uint8_t>{}(std::uint8_t{7}), xxh3_of_u64_le(7));
  EXPECT_EQ(scaling::hash<>{}(std::uint64_t{0x0102030405060708}),
            xxh3_of_u64_le(0x0102030405060708));
  EXPECT_EQ(scaling::hash<std::uint64_t>{5}(1U), xxh3_of_u64_le(1, 5));
}

TEST(Hash, SignedIntegersAreSignExtendedSoWidthsAgree) {
  EXPECT_EQ(scaling::hash<std::int8_t>{}(std::int8_t{-1}), xxh3_of_u64_le(~std::uint64_t{0}));
  EXPECT_EQ(scaling::hash<std::int32_t>{}(-1), scaling::hash<std::int64_t>{}(-1));
  EXPECT_EQ(scaling::hash<short>{}(short{-300}), scaling::hash<long long>{}(-300LL));
}

TEST(Hash, EnumsHashAsTheirUnderlyingValue) {
  EXPECT_EQ(scaling::hash<color>{}(color::green), scaling::hash<int>{}(2));
  EXPECT_EQ(scaling::hash<>{}(plain_a), scaling::hash<>{}(5));
}

TEST(Hash, ByteSpansHashAsTheirBytes) {
  const std::vector<std::byte> bytes{std::byte{'a'}, std::byte{'b'}, std::byte{'c'}};
  const std::span<const std::byte> view{bytes};
  EXPECT_EQ(scaling::hash<std::span<const std::byte>>{}(view), XXH3_64bits("abc", 3));
  EXPECT_EQ(scaling::hash<>{}(bytes), scaling::hash<>{}("abc"));
}

TEST(Hash, ConceptsAcceptHashersAndRejectTheRest) {
  static_assert(scaling::hasher_for<scaling::hash<>, std::string>);
  static_assert(scaling::hasher_for<scaling::hash<std::string_view>, std::string>);
  static_assert(scaling::hasher_for<std::hash<int>, int>);
  static_assert(!scaling::hasher_for<int, int>);
  static_assert(!scaling::hasher_for<scaling::hash<>, double>);
  static_assert(scaling::default_hashable<color>);
  static_assert(scaling::default_hashable<const char*>);
  static_assert(!scaling::default_hashable<double>);
  static_assert(!scaling::default_hashable<std::vector<int>>);
  static_assert(scaling::hash<>::is_avalanching::value);
  SUCCEED();
}

// A deterministic distribution check: the low 10 bits of 2^20 consecutive integers must be
// spread evenly (chi-square with 1023 degrees of freedom stays far below 1300 for a good
// hash; an identity hash would put every key's low bits in a fixed pattern and still pass,
// so the same check runs on keys that share their low bits).
TEST(Hash, LowBitsAreUniformForStructuredKeys) {
  constexpr std::size_t buckets = 1024;
  constexpr std::uint64_t keys = 1U << 20;
  std::vector<std::uint64_t> counts(buckets, 0);
  const scaling::hash<std::uint64_t> hash;
  for (std::uint64_t i = 0; i < keys; ++i)
    ++counts[hash(i << 10) & (buckets - 1)];
  const double expected = static_cast<double>(keys) / buckets;
  double chi_square = 0;
  for (const auto count : counts) {
    const double diff = static_cast<double>(count) - expected;
    chi_square += diff * diff / expected;
  }
  EXPECT_LT(chi_square, 1300.0);
}

TEST(Hash, MixIsABijectionOnSamples) {
  EXPECT_EQ(scaling::mix64(0), 0U);
  EXPECT_NE(scaling::mix64(1), scaling::mix64(2));
  EXPECT_NE(scaling::mix64(1), 1U);
}

TEST(Hash, WorksAsATransparentBoostUnorderedHasher) {
  boost::unordered_flat_map<std::string, int, scaling::hash<>, std::equal_to<>> map;
  map.emplace("alpha", 1);
  map.emplace("beta", 2);
  const std::string_view probe = "beta";
  ASSERT_NE(map.find(probe), map.end());
  EXPECT_EQ(map.find(probe)->second, 2);
  EXPECT_EQ(map.find(std::string_view{"gamma"}), map.end());
}

}  // namespace
