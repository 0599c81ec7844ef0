#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include <scaling/cdn/cache_control.hpp>

namespace {

using namespace std::chrono;
using namespace std::chrono_literals;

// --- parsing -----------------------------------------------------------------------------

TEST(CacheControl, ParsesEveryDirective) {
  const auto d = scaling::parse_cache_control(
      "public, max-age=60, s-maxage=120, stale-while-revalidate=30, stale-if-error=600, "
      "must-revalidate, proxy-revalidate, no-transform, immutable");
  EXPECT_TRUE(d.is_public);
  EXPECT_EQ(d.max_age, 60s);
  EXPECT_EQ(d.s_maxage, 120s);
  EXPECT_EQ(d.stale_while_revalidate, 30s);
  EXPECT_EQ(d.stale_if_error, 600s);
  EXPECT_TRUE(d.must_revalidate);
  EXPECT_TRUE(d.proxy_revalidate);
  EXPECT_TRUE(d.no_transform);
  EXPECT_TRUE(d.immutable);
  EXPECT_FALSE(d.no_store || d.no_cache || d.is_private || d.malformed);
}

TEST(CacheControl, NamesAreCaseInsensitiveAndWhitespaceIsOptional) {
  const auto d = scaling::parse_cache_control("  NO-STORE ,No-Cache,PRIVATE,,  Max-Age = 5 ");
  EXPECT_TRUE(d.no_store);
  EXPECT_TRUE(d.no_cache);
  EXPECT_TRUE(d.is_private);
  EXPECT_EQ(d.max_age, 5s);
}

TEST(CacheControl, QuotedArgumentsAreAccepted) {
  const auto d = scaling::parse_cache_control(R"(max-age="42", private="Set-Cookie")");
  EXPECT_EQ(d.max_age, 42s);
  EXPECT_TRUE(d.is_private);
  const auto q = scaling::parse_cache_control(R"(no-cache="Set-Cookie, X-Foo", max-age=9)");
  EXPECT_TRUE(q.no_cache);
  EXPECT_EQ(q.max_age, 9s);
}

TEST(CacheControl, FirstOccurrenceWins) {
  EXPECT_EQ(scaling::parse_cache_control("max-age=10, max-age=99999").max_age, 10s);
}

TEST(CacheControl, InvalidMaxAgeMeansStaleAndInvalidExtensionsAreIgnored) {
  for (const char* field : {"max-age=-1", "max-age=abc", "max-age=", "max-age", "max-age=1.5"}) {
    const auto d = scaling::parse_cache_control(field);
    EXPECT_EQ(d.max_age, 0s) << field;
    EXPECT_TRUE(d.malformed) << field;
  }
  const auto d = scaling::parse_cache_control("stale-while-revalidate=-5, stale-if-error=x");
  EXPECT_FALSE(d.stale_while_revalidate.has_value());
  EXPECT_FALSE(d.stale_if_error.has_value());
}

TEST(CacheControl, OverflowingDeltaSecondsSaturateAtTwoToTheThirtyOne) {
  const auto d = scaling::parse_cache_control("max-age=99999999999999999999999999999999");
  EXPECT_EQ(d.max_age, scaling::max_delta_seconds);
  EXPECT_EQ(scaling::parse_cache_control("max-age=2147483649").max_age, scaling::max_delta_seconds);
  EXPECT_EQ(scaling::parse_cache_control("max-age=2147483647").max_age, 2147483647s);
}

TEST(CacheControl, UnknownAndMalformedMembersDoNotHideTheRest) {
  const auto d = scaling::parse_cache_control(R"(foo, bar="unterminated\"quote, max-age=7)");
  // The unterminated quoted string swallows the rest: nothing after it may be trusted.
  EXPECT_TRUE(d.malformed);
  EXPECT_FALSE(d.max_age.has_value());
  const auto e = scaling::parse_cache_control("x-ext=\"a,b\", @@@, max-age=7, =5");
  EXPECT_TRUE(e.malformed);
  EXPECT_EQ(e.max_age, 7s);
}

TEST(CacheControl, TargetedFieldIsAStrictDictionary) {
  const auto d = scaling::parse_targeted_cache_control("max-age=600, stale-if-error=30");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->max_age, 600s);
  EXPECT_EQ(d->stale_if_error, 30s);
  for (const char* field : {"no-store", "no-store=?1", "no-store=?0"}) {
    const auto parsed = scaling::parse_targeted_cache_control(field);
    ASSERT_TRUE(parsed.has_value()) << field;
    EXPECT_EQ(parsed->no_store, std::string_view{field} != "no-store=?0") << field;
  }
  EXPECT_FALSE(scaling::parse_targeted_cache_control("").has_value());
  EXPECT_FALSE(scaling::parse_targeted_cache_control("Max-Age=5").has_value());  // uppercase
  EXPECT_FALSE(scaling::parse_targeted_cache_control("max-age=5 junk").has_value());
  // A quoted string is not the Integer max-age takes (RFC 9213 section 2.2): the field is
  // ignored as a whole, and the cache falls back to Cache-Control.
  EXPECT_FALSE(
      scaling::parse_targeted_cache_control(R"(max-age="600", stale-if-error=30)").has_value());
}

TEST(CacheControl, RequestDirectives) {
  const auto d =
      scaling::parse_cache_control("max-age=0, min-fresh=30, max-stale=120, only-if-cached");
  EXPECT_EQ(d.max_age, 0s);
  EXPECT_EQ(d.min_fresh, 30s);
  EXPECT_EQ(d.max_stale, 120s);
  EXPECT_TRUE(d.only_if_cached);
  EXPECT_FALSE(d.malformed);
  // max-stale without a value accepts any staleness; a bad min-fresh or max-stale is ignored.
  EXPECT_EQ(scaling::parse_cache_control("max-stale").max_stale, std::chrono::seconds::max());
  const auto bad = scaling::parse_cache_control("min-fresh=soon, max-stale=-1");
  EXPECT_FALSE(bad.min_fresh.has_value());
  EXPECT_FALSE(bad.max_stale.has_value());
  EXPECT_TRUE(bad.malformed);
}

TEST(CacheControl, VaryAndSurrogateKeys) {
  EXPECT_TRUE(scaling::vary_has_star("Accept-Encoding, *"));
  EXPECT_FALSE(scaling::vary_has_star("Accept-Encoding"));
  EXPECT_EQ(scaling::parse_vary("Accept-Encoding, accept-encoding , User-Agent"),
            (std::vector<std::string>{"accept-encoding", "user-agent"}));
  EXPECT_EQ(scaling::parse_surrogate_keys("  product-42 all\tproduct-42  css "),
            (std::vector<std::string>{"product-42", "all", "css"}));
}

// --- evaluation --------------------------------------------------------------------------

constexpr sys_seconds t0 = sys_days{2026y / January / 1} + 12h;

scaling::freshness evaluate(scaling::response_view response, scaling::request_view request = {},
                            sys_seconds sent = t0, sys_seconds received = t0) {
  return scaling::evaluate_response(request, response, sent, received);
}

TEST(Freshness, LifetimePrecedenceSharedCache) {
  const std::string date = scaling::format_http_date(t0);
  const std::string expires = scaling::format_http_date(t0 + 300s);
  EXPECT_EQ(evaluate({.cache_control = "max-age=60, s-maxage=90", .expires = expires, .date = date})
                .lifetime,
            90s);
  EXPECT_EQ(evaluate({.cache_control = "max-age=60", .expires = expires, .date = date}).lifetime,
            60s);
  EXPECT_EQ(evaluate({.expires = expires, .date = date}).lifetime, 300s);
}

TEST(Freshness, InvalidOrPastExpiresMeansAlreadyExpired) {
  const std::string date = scaling::format_http_date(t0);
  EXPECT_EQ(evaluate({.expires = "0", .date = date}).lifetime, 0s);
  EXPECT_EQ(evaluate({.expires = scaling::format_http_date(t0 - 60s), .date = date}).lifetime, 0s);
  EXPECT_FALSE(evaluate({.expires = "0", .date = date}).is_fresh(t0));
}

TEST(Freshness, HeuristicIsTenPercentOfLastModifiedAgeCappedAndOnlyForCacheableStatuses) {
  const std::string date = scaling::format_http_date(t0);
  const std::string modified = scaling::format_http_date(t0 - 1000s);
  const auto f = evaluate({.date = date, .last_modified = modified});
  EXPECT_TRUE(f.heuristic);
  EXPECT_EQ(f.lifetime, 100s);
  const auto capped =
      evaluate({.date = date, .last_modified = scaling::format_http_date(t0 - hours{24 * 365})});
  EXPECT_EQ(capped.lifetime, 24h);
  const auto not_allowed = evaluate({.status = 302, .date = date, .last_modified = modified});
  EXPECT_FALSE(not_allowed.storable());
  const auto disabled =
      scaling::evaluate_response({}, {.date = date, .last_modified = modified}, t0, t0,
                                 {.heuristic = scaling::heuristic_freshness::disabled});
  EXPECT_EQ(disabled.lifetime, 0s);
  EXPECT_FALSE(disabled.heuristic);
}

TEST(Freshness, AgeArithmeticFollowsRfc9111) {
  // Sent at t0, received 2 s later; the origin's Date is 5 s before receipt and an upstream
  // cache says Age: 10. apparent_age = 5, corrected = 10 + 2 = 12, initial age = 12.
  const auto f = evaluate(
      {.cache_control = "max-age=100", .date = scaling::format_http_date(t0 - 3s), .age = "10"}, {},
      t0, t0 + 2s);
  EXPECT_EQ(f.initial_age, 12s);
  EXPECT_EQ(f.current_age(t0 + 2s), 12s);
  EXPECT_EQ(f.current_age(t0 + 32s), 42s);
  EXPECT_TRUE(f.is_fresh(t0 + 2s + 87s));
  EXPECT_FALSE(f.is_fresh(t0 + 2s + 88s));
}

TEST(Freshness, ClockSkewAndBadAgeNeverMakeAgeNegative) {
  // Date in the future (origin clock ahead): apparent age clamps at 0.
  const auto ahead =
      evaluate({.cache_control = "max-age=10", .date = scaling::format_http_date(t0 + 3600s)});
  EXPECT_EQ(ahead.initial_age, 0s);
  EXPECT_EQ(evaluate({.cache_control = "max-age=10", .age = "-5"}).initial_age, 0s);
  EXPECT_EQ(evaluate({.cache_control = "max-age=10", .age = "7, 9"}).initial_age, 7s);
  EXPECT_EQ(evaluate({.cache_control = "max-age=10", .age = "99999999999999999999"}).initial_age,
            scaling::max_delta_seconds);
}

TEST(Freshness, StaleWhileRevalidateAndStaleIfErrorWindows) {
  const auto f = evaluate({.cache_control = "max-age=10, stale-while-revalidate=20, "
                                            "stale-if-error=100"});
  EXPECT_TRUE(f.is_fresh(t0 + 9s));
  EXPECT_FALSE(f.usable_while_revalidating(t0 + 9s));
  EXPECT_TRUE(f.usable_while_revalidating(t0 + 10s));
  EXPECT_TRUE(f.usable_while_revalidating(t0 + 30s));
  EXPECT_FALSE(f.usable_while_revalidating(t0 + 31s));
  EXPECT_TRUE(f.usable_on_error(t0 + 110s));
  EXPECT_FALSE(f.usable_on_error(t0 + 111s));
  EXPECT_EQ(f.usable_until(), t0 + 110s);
}

TEST(Freshness, MustRevalidateNoCacheAndSMaxageForbidStaleServing) {
  for (const char* field :
       {"max-age=10, must-revalidate, stale-while-revalidate=20, stale-if-error=20",
        "max-age=10, proxy-revalidate, stale-while-revalidate=20, stale-if-error=20",
        "s-maxage=10, stale-while-revalidate=20, stale-if-error=20",
        "no-cache, max-age=10, stale-while-revalidate=20, stale-if-error=20"}) {
    const auto f = evaluate({.cache_control = field});
    EXPECT_TRUE(f.storable()) << field;
    EXPECT_FALSE(f.usable_while_revalidating(t0 + 11s)) << field;
    EXPECT_FALSE(f.usable_on_error(t0 + 11s)) << field;
  }
  EXPECT_FALSE(evaluate({.cache_control = "no-cache, max-age=10"}).is_fresh(t0));
}

TEST(Freshness, StorabilityRules) {
  using v = scaling::store_verdict;
  EXPECT_EQ(evaluate({.cache_control = "max-age=60"}).verdict, v::storable);
  EXPECT_EQ(evaluate({.cache_control = "no-store, max-age=60"}).verdict, v::no_store);
  EXPECT_EQ(evaluate({.cache_control = "max-age=60"}, {.cache_control = "no-store"}).verdict,
            v::no_store);
  EXPECT_EQ(evaluate({.cache_control = "private, max-age=60"}).verdict, v::private_response);
  EXPECT_EQ(evaluate({.cache_control = "max-age=60"}, {.method = "POST"}).verdict,
            v::method_not_cacheable);
  EXPECT_EQ(evaluate({.cache_control = "max-age=60"}, {.has_authorization = true}).verdict,
            v::authorization);
  EXPECT_EQ(evaluate({.cache_control = "public, max-age=60"}, {.has_authorization = true}).verdict,
            v::storable);
  EXPECT_EQ(evaluate({.cache_control = "s-maxage=60"}, {.has_authorization = true}).verdict,
            v::storable);
  EXPECT_EQ(evaluate({.cache_control = "max-age=60", .has_set_cookie = true}).verdict,
            v::set_cookie);
  EXPECT_EQ(evaluate({.cache_control = "max-age=60", .vary = "*"}).verdict, v::vary_star);
  EXPECT_EQ(evaluate({.status = 500, .cache_control = "max-age=60"}).verdict,
            v::status_not_cacheable);
  EXPECT_EQ(evaluate({.status = 302, .cache_control = "max-age=60"}).verdict, v::storable);
  EXPECT_EQ(evaluate({.status = 302}).verdict, v::status_not_cacheable);
  EXPECT_EQ(scaling::to_string(v::vary_star), "vary_star");
}

TEST(Freshness, TargetedFieldOverridesCacheControlAndExpires) {
  const auto f =
      evaluate({.cache_control = "no-store", .cdn_cache_control = "max-age=600", .expires = "0"});
  EXPECT_TRUE(f.from_targeted_field);
  EXPECT_TRUE(f.storable());
  EXPECT_EQ(f.lifetime, 600s);
  // An invalid targeted field is ignored: Cache-Control applies.
  const auto g = evaluate({.cache_control = "max-age=5", .cdn_cache_control = "MAX-AGE=600"});
  EXPECT_FALSE(g.from_targeted_field);
  EXPECT_EQ(g.lifetime, 5s);
}

}  // namespace
