// HTTP caching rules checked against the RFC text, one row per rule with the section that
// states it: what an edge cache may store, for how long a copy stays usable, how a 304 updates
// a stored copy, how CDN-Cache-Control is parsed, and that header names and directives are
// compared in ASCII whatever the process locale.
#include <chrono>
#include <clocale>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include <scaling/cdn/detail/ascii.hpp>
#include <scaling/cdn/edge_cache.hpp>

namespace {

using namespace std::chrono;
using namespace std::chrono_literals;
using scaling::cache_status;
using scaling::http_response;

constexpr sys_seconds t0 = sys_days{2026y / January / 1} + 12h;

// An origin whose next answer the test sets; counts its calls.
struct scripted_origin {
  scaling::manual_clock clock{scaling::manual_clock::time_point{t0.time_since_epoch()}};
  std::optional<http_response> next;
  std::vector<scaling::origin_request> seen;
  std::vector<std::function<void()>> refreshes;  // background refreshes, never run here

  [[nodiscard]] sys_seconds now() const {
    return sys_seconds{floor<seconds>(clock.now().time_since_epoch())};
  }
  [[nodiscard]] std::string date() const { return scaling::format_http_date(now()); }
};

scaling::edge_cache<>::options options_for(scripted_origin& o) {
  return {
      .origin =
          [&o](const scaling::origin_request& r) {
            o.seen.push_back(r);
            return o.next;
          },
      .clock = o.clock,
      .background = [&o](std::function<void()> task) { o.refreshes.push_back(std::move(task)); }};
}

// --- storing and reusing ---------------------------------------------------------------

// One response from the origin, then a second request `after` later (the origin down when
// `origin_down_then`): does the second request reach the origin, and how is it answered?
struct reuse_row {
  const char* rfc;
  const char* rule;
  int status;
  http_response::header_list headers;
  seconds after;
  bool origin_down_then;
  bool soft_purge_first;
  bool second_reaches_origin;
  cache_status second_status;
};

class RfcReuse : public ::testing::TestWithParam<reuse_row> {};

TEST_P(RfcReuse, SecondRequest) {
  const reuse_row& row = GetParam();
  SCOPED_TRACE(std::string{row.rfc} + ": " + row.rule);
  scripted_origin origin;
  scaling::edge_cache<> edge{options_for(origin)};
  http_response first{row.status, row.headers, "first"};
  first.add_header("Date", origin.date());
  origin.next = first;
  const auto answer = edge.get({.key = "/r"});
  EXPECT_EQ(answer.response.body(), "first");
  if (row.soft_purge_first) (void)edge.soft_purge("/r");
  origin.clock.advance(row.after);
  if (row.origin_down_then) {
    origin.next.reset();
  } else {
    origin.next =
        http_response{200, {{"Date", origin.date()}, {"Cache-Control", "no-store"}}, "second"};
  }
  const auto second = edge.get({.key = "/r"});
  EXPECT_EQ(origin.seen.size(), row.second_reaches_origin ? 2U : 1U);
  EXPECT_EQ(second.status, row.second_status);
  if (!row.second_reaches_origin) {
    EXPECT_EQ(second.response.body(), "first");
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rows, RfcReuse,
    ::testing::Values(
        // Negative caching stores an origin error briefly, but never one the origin forbids
        // storing: no-store and private are MUST NOTs for every response.
        reuse_row{"RFC 9111 5.2.2.5",
                  "a 500 with no-store is not stored",
                  500,
                  {{"Cache-Control", "no-store"}},
                  0s,
                  false,
                  false,
                  true,
                  cache_status::pass},
        reuse_row{"RFC 9111 5.2.2.5",
                  "a 503 with no-store is not stored",
                  503,
                  {{"Cache-Control", "no-store"}},
                  0s,
                  false,
                  false,
                  true,
                  cache_status::pass},
        reuse_row{"RFC 9111 5.2.2.7",
                  "a 502 with private is not stored by a shared cache",
                  502,
                  {{"Cache-Control", "private"}},
                  0s,
                  false,
                  false,
                  true,
                  cache_status::pass},
        reuse_row{"RFC 9111 5.2.2.7",
                  "a 504 with private is not stored by a shared cache",
                  504,
                  {{"Cache-Control", "private, max-age=60"}},
                  0s,
                  false,
                  false,
                  true,
                  cache_status::pass},
        reuse_row{"RFC 9213 2.1",
                  "a 500 with CDN-Cache-Control: no-store is not stored",
                  500,
                  {{"CDN-Cache-Control", "no-store"}},
                  0s,
                  false,
                  false,
                  true,
                  cache_status::pass},
        reuse_row{"RFC 9111 3",
                  "a 503 without directives is cached briefly (negative_ttl)",
                  503,
                  {},
                  0s,
                  false,
                  false,
                  false,
                  cache_status::hit},
        // The windows are inclusive: stale by exactly N seconds is still within them.
        reuse_row{"RFC 5861 3",
                  "stale-while-revalidate: the last second of the window",
                  200,
                  {{"Cache-Control", "max-age=10, stale-while-revalidate=30"}},
                  40s,
                  false,
                  false,
                  false,
                  cache_status::stale},
        reuse_row{"RFC 5861 3",
                  "stale-while-revalidate: one second past the window",
                  200,
                  {{"Cache-Control", "max-age=10, stale-while-revalidate=30"}},
                  41s,
                  false,
                  false,
                  true,
                  cache_status::pass},
        reuse_row{"RFC 5861 4",
                  "stale-if-error: the last second of the window",
                  200,
                  {{"Cache-Control", "max-age=10, stale-if-error=60"}},
                  70s,
                  true,
                  false,
                  true,
                  cache_status::stale},
        reuse_row{"RFC 5861 4",
                  "stale-if-error: one second past the window",
                  200,
                  {{"Cache-Control", "max-age=10, stale-if-error=60"}},
                  71s,
                  true,
                  false,
                  true,
                  cache_status::error},
        reuse_row{"RFC 5861 4",
                  "soft purge: stale-if-error to the last second",
                  200,
                  {{"Cache-Control", "max-age=100, stale-if-error=60"}},
                  60s,
                  true,
                  true,
                  true,
                  cache_status::stale},
        // A cache that does not support ranges does not store partial content.
        reuse_row{"RFC 9111 3.3",
                  "a 206 is not stored (this cache does not do ranges)",
                  206,
                  {{"Cache-Control", "max-age=60"}, {"Content-Range", "bytes 0-4/100"}},
                  0s,
                  false,
                  false,
                  true,
                  cache_status::pass}));

// RFC 9110 6.6.1: a cache that stores or forwards a response without Date adds one, and
// RFC 9111 4.3.4: the Date of a 304 replaces the stored one (the cache's own when the 304
// has none), so a copy just validated is fresh.
TEST(RfcRevalidation, NotModifiedWithoutDateLeavesTheCopyFresh) {
  SCOPED_TRACE("RFC 9110 6.6.1, RFC 9111 4.3.4");
  scripted_origin origin;
  scaling::edge_cache<> edge{options_for(origin)};
  origin.next = http_response{
      200, {{"Date", origin.date()}, {"Cache-Control", "max-age=10"}, {"ETag", "\"v1\""}}, "v1"};
  (void)edge.get({.key = "/r"});
  origin.clock.advance(20s);
  origin.next = http_response{304, {{"Cache-Control", "max-age=10"}, {"ETag", "\"v1\""}}, ""};
  const auto revalidated = edge.get({.key = "/r"});
  EXPECT_EQ(revalidated.status, cache_status::revalidated);
  EXPECT_EQ(revalidated.response.header("Date"), origin.date());
  EXPECT_EQ(revalidated.response.header("Age"), "0");
  const auto again = edge.get({.key = "/r"});
  EXPECT_EQ(again.status, cache_status::hit) << "the copy was just validated";
  EXPECT_EQ(origin.seen.size(), 2U);
}

TEST(RfcRevalidation, ResponseWithoutDateIsStoredAndServedWithOne) {
  SCOPED_TRACE("RFC 9110 6.6.1");
  scripted_origin origin;
  scaling::edge_cache<> edge{options_for(origin)};
  origin.next = http_response{200, {{"Cache-Control", "max-age=60"}}, "v1"};
  const auto miss = edge.get({.key = "/r"});
  EXPECT_EQ(miss.response.header("Date"), origin.date()) << "forwarded with a Date";
  const auto received = origin.date();
  origin.clock.advance(5s);
  const auto hit = edge.get({.key = "/r"});
  EXPECT_EQ(hit.status, cache_status::hit);
  EXPECT_EQ(hit.response.header("Date"), received);
  EXPECT_EQ(hit.response.header("Age"), "5");
}

// RFC 9111 4.3.4: a 304 whose strong validator is not the stored copy's identifies no stored
// response, which must not be updated: the copy is fetched again, in full.
TEST(RfcRevalidation, NotModifiedForAnotherStrongValidatorDoesNotFreshenTheCopy) {
  SCOPED_TRACE("RFC 9111 4.3.4");
  scripted_origin origin;
  scaling::edge_cache<> edge{
      {.origin =
           [&origin](const scaling::origin_request& r) {
             origin.seen.push_back(r);
             if (!r.if_none_match.empty()) {
               return std::optional{http_response{
                   304,
                   {{"Date", origin.date()}, {"Cache-Control", "max-age=10"}, {"ETag", "\"v2\""}},
                   ""}};
             }
             return origin.next;
           },
       .clock = origin.clock}};
  origin.next = http_response{
      200, {{"Date", origin.date()}, {"Cache-Control", "max-age=10"}, {"ETag", "\"v1\""}}, "v1"};
  (void)edge.get({.key = "/r"});
  origin.clock.advance(20s);
  origin.next = http_response{
      200, {{"Date", origin.date()}, {"Cache-Control", "max-age=10"}, {"ETag", "\"v2\""}}, "v2"};
  const auto answer = edge.get({.key = "/r"});
  EXPECT_NE(answer.status, cache_status::revalidated);
  EXPECT_EQ(answer.response.body(), "v2") << "never the old body under the new validator";
  EXPECT_EQ(answer.response.header("ETag"), "\"v2\"");
  const auto next = edge.get({.key = "/r"});
  EXPECT_EQ(next.response.body(), "v2");
  EXPECT_EQ(next.status, cache_status::hit);
}

TEST(RfcRevalidation, NotModifiedWithTheStoredValidatorStillFreshens) {
  SCOPED_TRACE("RFC 9111 4.3.4");
  scripted_origin origin;
  scaling::edge_cache<> edge{options_for(origin)};
  origin.next = http_response{
      200, {{"Date", origin.date()}, {"Cache-Control", "max-age=10"}, {"ETag", "W/\"v1\""}}, "v1"};
  (void)edge.get({.key = "/r"});
  origin.clock.advance(20s);
  origin.next = http_response{
      304, {{"Date", origin.date()}, {"Cache-Control", "max-age=10"}, {"ETag", "W/\"v1\""}}, ""};
  const auto answer = edge.get({.key = "/r"});
  EXPECT_EQ(answer.status, cache_status::revalidated);
  EXPECT_EQ(answer.response.body(), "v1");
}

// A 206 must not answer a later plain request (RFC 9111 3.3 and 4: a stored partial response
// only satisfies a range request).
TEST(RfcPartialContent, PlainRequestAfterA206GetsTheFullResponse) {
  SCOPED_TRACE("RFC 9111 3.3");
  scripted_origin origin;
  scaling::edge_cache<> edge{options_for(origin)};
  origin.next = http_response{
      206,
      {{"Date", origin.date()}, {"Cache-Control", "max-age=60"}, {"Content-Range", "bytes 0-1/10"}},
      "01"};
  (void)edge.get({.key = "/r"});
  origin.next =
      http_response{200, {{"Date", origin.date()}, {"Cache-Control", "max-age=60"}}, "0123456789"};
  const auto full = edge.get({.key = "/r"});
  EXPECT_EQ(full.response.status(), 200);
  EXPECT_EQ(full.response.body(), "0123456789");
  EXPECT_EQ(edge.get({.key = "/r"}).status, cache_status::hit) << "the full response is stored";
}

// --- CDN-Cache-Control as a Structured Field Dictionary ---------------------------------

struct targeted_row {
  const char* rfc;
  const char* field;
  bool valid;                      // used instead of Cache-Control
  std::optional<seconds> max_age;  // when valid
};

class RfcTargetedField : public ::testing::TestWithParam<targeted_row> {};

TEST_P(RfcTargetedField, ParsesAsADictionaryOrIsIgnoredWhole) {
  const targeted_row& row = GetParam();
  SCOPED_TRACE(std::string{row.rfc} + ": [" + row.field + "]");
  const auto parsed = scaling::parse_targeted_cache_control(row.field);
  EXPECT_EQ(parsed.has_value(), row.valid);
  if (parsed && row.valid) {
    EXPECT_EQ(parsed->max_age, row.max_age);
  }
  // Through the freshness rules: an invalid field falls back to Cache-Control as a whole.
  const auto f = scaling::evaluate_response({},
                                            {.status = 200,
                                             .cache_control = "max-age=5",
                                             .cdn_cache_control = row.field,
                                             .date = "Thu, 01 Jan 2026 12:00:00 GMT"},
                                            t0, t0);
  EXPECT_EQ(f.from_targeted_field, row.valid);
  if (!row.valid) {
    EXPECT_EQ(f.lifetime, 5s);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rows, RfcTargetedField,
    ::testing::Values(
        targeted_row{"RFC 9213 2.2", "max-age=60", true, 60s},
        targeted_row{"RFC 8941 3.2", "max-age=60;foo=bar", true, 60s},
        targeted_row{"RFC 8941 3.1.2", "max-age=60;foo=\"x\";bar, no-store;a=1", true, 60s},
        targeted_row{"RFC 8941 3.2", "max-age=60 , public", true, 60s},
        targeted_row{"RFC 8941 3.2", "must-revalidate=?1, max-age=10", true, 10s},
        targeted_row{"RFC 8941 3.2", "max-age=10, max-age=20", true, 20s},  // last one wins
        targeted_row{"RFC 8941 3.2", "private=\"set-cookie\", max-age=10", true, 10s},
        targeted_row{"RFC 8941 4.2", "max-age=60,", false, {}},  // trailing comma
        targeted_row{"RFC 8941 4.2", "max-age=60,,public", false, {}},
        targeted_row{"RFC 8941 3.3.1", "max-age=1234567890123456", false, {}},  // 16 digits
        targeted_row{"RFC 8941 3.3.1", "max-age=123456789012345", true, scaling::max_delta_seconds},
        targeted_row{"RFC 9213 2.2", "max-age=\"60\"", false, {}},  // a String, not an Integer
        targeted_row{"RFC 9213 2.2", "max-age=6.5", false, {}},     // a Decimal
        targeted_row{"RFC 9213 2.2", "max-age=-1", false, {}},
        targeted_row{"RFC 9213 2.2", "no-store=1", false, {}},  // not a Boolean
        targeted_row{"RFC 8941 3.2", "Max-Age=60", false, {}},  // keys are lowercase
        targeted_row{"RFC 8941 4.2", "max-age=60 junk", false, {}},
        targeted_row{"RFC 8941 4.2", "max-age=60;", false, {}},
        targeted_row{"RFC 8941 3.3.3", "x=\"unterminated", false, {}},
        targeted_row{"RFC 9213 2.2", "", false, {}}));

// --- ASCII case folding, whatever the locale --------------------------------------------

TEST(RfcAscii, CaseFoldingIsAsciiOnly) {
  SCOPED_TRACE("RFC 9110 5.1 and 5.6.2: field names and tokens are case-insensitive ASCII");
  using scaling::detail::ascii_lower;
  EXPECT_EQ(ascii_lower('I'), 'i');
  EXPECT_EQ(ascii_lower('Z'), 'z');
  EXPECT_EQ(ascii_lower('a'), 'a');
  EXPECT_EQ(ascii_lower('@'), '@');
  EXPECT_EQ(ascii_lower('['), '[');
  EXPECT_EQ(ascii_lower(static_cast<char>(0xDD)), static_cast<char>(0xDD));  // Latin-1 Y-acute
  EXPECT_TRUE(scaling::detail::iequals("PRIVATE", "private"));
  EXPECT_FALSE(scaling::detail::iequals("priv\xC4\xB1te", "private"));  // dotless i in UTF-8
  EXPECT_TRUE(scaling::detail::ascii_is_alnum('7'));
  EXPECT_FALSE(scaling::detail::ascii_is_alnum(static_cast<char>(0xE9)));
  EXPECT_FALSE(scaling::detail::is_tchar(static_cast<char>(0xE9)));
  EXPECT_TRUE(scaling::detail::ascii_is_digit('0'));
  EXPECT_FALSE(scaling::detail::ascii_is_digit(static_cast<char>(0xB2)));  // Latin-1 superscript 2
}

// Sets a Turkish C locale for the test's duration (where I does not lower to i).
class turkish_locale {
 public:
  turkish_locale() {
    const char* previous = std::setlocale(LC_ALL, nullptr);
    previous_ = previous != nullptr ? previous : "C";
    for (const char* name : {"tr_TR.UTF-8", "tr_TR.utf8", "tr_TR.ISO-8859-9", "tr_TR"}) {
      if (std::setlocale(LC_ALL, name) != nullptr) {
        active_ = true;
        break;
      }
    }
  }
  ~turkish_locale() { std::setlocale(LC_ALL, previous_.c_str()); }
  turkish_locale(const turkish_locale&) = delete;
  turkish_locale& operator=(const turkish_locale&) = delete;
  [[nodiscard]] bool active() const noexcept { return active_; }

 private:
  std::string previous_;
  bool active_ = false;
};

TEST(RfcAscii, PrivateIsPrivateUnderATurkishLocale) {
  const turkish_locale turkish;
  if (!turkish.active()) GTEST_SKIP() << "no tr_TR locale installed";
  EXPECT_TRUE(scaling::parse_cache_control("PRIVATE").is_private);
  EXPECT_TRUE(scaling::parse_cache_control("No-Store, MAX-AGE=60").no_store);
  EXPECT_EQ(scaling::parse_vary("ACCEPT-ENCODING, If-None-Match"),
            (std::vector<std::string>{"accept-encoding", "if-none-match"}));
  EXPECT_TRUE(scaling::parse_http_date("Thu, 01 Jan 2026 12:00:00 GMT").has_value());

  scripted_origin origin;
  scaling::edge_cache<> edge{options_for(origin)};
  origin.next = http_response{
      200, {{"Date", origin.date()}, {"CACHE-CONTROL", "PRIVATE, MAX-AGE=60"}}, "mine"};
  EXPECT_EQ(edge.get({.key = "/me"}).status, cache_status::pass);
  EXPECT_EQ(edge.get({.key = "/me"}).status, cache_status::pass) << "a private response is "
                                                                    "never served to another";
  EXPECT_EQ(origin.seen.size(), 2U);
}

}  // namespace
