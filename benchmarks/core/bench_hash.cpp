// Hashing cost: scaling::hash (XXH3) beside std::hash, XXH64 and boost::hash, on the key
// shapes the library hashes most: short strings (ids, URLs' paths) and 64-bit integers.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <boost/container_hash/hash.hpp>

#include <scaling/core/hash.hpp>

namespace {

std::vector<std::string> make_keys(std::size_t length) {
  std::vector<std::string> keys;
  keys.reserve(1024);
  for (std::size_t i = 0; i < 1024; ++i) {
    std::string key = "user:" + std::to_string(i * 7919);
    key.resize(length, 'x');
    keys.push_back(std::move(key));
  }
  return keys;
}

struct xxh64_hasher {
  std::uint64_t operator()(const std::string& s) const noexcept {
    return XXH64(s.data(), s.size(), 0);
  }
};

template <class Hasher>
void string_key(benchmark::State& state) {
  const auto keys = make_keys(static_cast<std::size_t>(state.range(0)));
  const Hasher hasher{};
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(hasher(keys[i++ & 1023]));
  }
  state.SetItemsProcessed(state.iterations());
}

template <class Hasher>
void integer_key(benchmark::State& state) {
  const Hasher hasher{};
  std::uint64_t key = 0x9e3779b97f4a7c15ULL;
  for (auto _ : state) {
    benchmark::DoNotOptimize(hasher(key));
    ++key;
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(string_key<scaling::hash<std::string>>)->Name("hash_string/scaling")->Arg(11)->Arg(64);
BENCHMARK(string_key<xxh64_hasher>)->Name("hash_string/xxh64")->Arg(11)->Arg(64);
BENCHMARK(string_key<std::hash<std::string>>)->Name("hash_string/std_hash")->Arg(11)->Arg(64);
BENCHMARK(string_key<boost::hash<std::string>>)->Name("hash_string/boost_hash")->Arg(11)->Arg(64);

BENCHMARK(integer_key<scaling::hash<std::uint64_t>>)->Name("hash_u64/scaling");
BENCHMARK(integer_key<std::hash<std::uint64_t>>)->Name("hash_u64/std_hash");
BENCHMARK(integer_key<boost::hash<std::uint64_t>>)->Name("hash_u64/boost_hash");

}  // namespace
