// Replays the fuzz corpus (tests/cdn/fuzz/corpus) through the same checks the fuzzer runs, so
// every input that ever found a bug, and the seed inputs, are tested in every build.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fuzz/header_fuzz.hpp"

namespace {

TEST(HeaderFuzzCorpus, EveryInputParsesWithinInvariants) {
  const std::filesystem::path corpus =
      std::filesystem::path{SCALING_SOURCE_DIR} / "tests/cdn/fuzz/corpus";
  ASSERT_TRUE(std::filesystem::is_directory(corpus)) << corpus;
  std::size_t replayed = 0;
  for (const auto& entry : std::filesystem::directory_iterator{corpus}) {
    std::ifstream in{entry.path(), std::ios::binary};
    const std::vector<char> bytes{std::istreambuf_iterator<char>{in}, {}};
    scaling_fuzz::parse_headers_once(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                     bytes.size());
    ++replayed;
  }
  EXPECT_GT(replayed, 10U);
}

}  // namespace
