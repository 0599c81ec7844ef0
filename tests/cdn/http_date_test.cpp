#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include <scaling/cdn/http_date.hpp>

namespace {

using namespace std::chrono;

constexpr sys_seconds rfc_example = sys_days{1994y / November / 6} + 8h + 49min + 37s;

TEST(HttpDate, ParsesTheThreeRequiredFormats) {
  EXPECT_EQ(scaling::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), rfc_example);
  EXPECT_EQ(scaling::parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), rfc_example);
  EXPECT_EQ(scaling::parse_http_date("Sun Nov  6 08:49:37 1994"), rfc_example);
  EXPECT_EQ(scaling::parse_http_date("  Sun, 06 Nov 1994 08:49:37 GMT\t"), rfc_example);
}

TEST(HttpDate, TwoDigitYearsPivotAtSeventy) {
  EXPECT_EQ(scaling::parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT"), sys_seconds{0s});
  EXPECT_EQ(scaling::parse_http_date("Saturday, 01-Jan-00 00:00:00 GMT"),
            sys_seconds{sys_days{2000y / January / 1}});
}

TEST(HttpDate, RejectsInvalidInput) {
  for (const char* bad : {"", "0", "-1", "tomorrow", "Sun, 06 Nov 1994 08:49:37",
                          "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 6 Nov 1994 08:49:37 GMT",
                          "Sun, 30 Feb 1994 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT",
                          "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Nov 1994 08:61:00 GMT",
                          "Sun, 06 Nov 1994 08:49:37 GMTX", "Sun, 06 Nov 19945 08:49:37 GMT"}) {
    EXPECT_FALSE(scaling::parse_http_date(bad).has_value()) << bad;
  }
  EXPECT_FALSE(scaling::parse_http_date(std::string(10'000, 'x')).has_value());
}

TEST(HttpDate, FormatsImfFixdateAndRoundTrips) {
  EXPECT_EQ(scaling::format_http_date(rfc_example), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(scaling::format_http_date(sys_seconds{0s}), "Thu, 01 Jan 1970 00:00:00 GMT");
  const sys_seconds leap_day = sys_days{2024y / February / 29} + 23h + 59min + 59s;
  EXPECT_EQ(scaling::parse_http_date(scaling::format_http_date(leap_day)), leap_day);
}

}  // namespace
