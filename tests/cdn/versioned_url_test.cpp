#include <string>

#include <gtest/gtest.h>

#include <scaling/cdn/versioned_url.hpp>

namespace {

TEST(VersionedUrl, VersionIsTheContentHashInHex) {
  const std::string version = scaling::content_version("console.log(1)");
  EXPECT_EQ(version.size(), 16U);
  EXPECT_EQ(version.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(scaling::content_version(""), "2d06800538d394c2");  // XXH3 of the empty input
}

TEST(VersionedUrl, ChangesExactlyWhenTheContentChanges) {
  EXPECT_EQ(scaling::versioned_url("/app.js", "a"), scaling::versioned_url("/app.js", "a"));
  EXPECT_NE(scaling::versioned_url("/app.js", "a"), scaling::versioned_url("/app.js", "b"));
}

TEST(VersionedUrl, AppendsToTheQueryAndKeepsTheFragmentLast) {
  EXPECT_EQ(scaling::versioned_url_with("/app.js", "7"), "/app.js?v=7");
  EXPECT_EQ(scaling::versioned_url_with("/img?w=200", "7"), "/img?w=200&v=7");
  EXPECT_EQ(scaling::versioned_url_with("/doc#top", "7"), "/doc?v=7#top");
}

}  // namespace
