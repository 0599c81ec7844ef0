// scaling/cdn/cache_control.hpp: HTTP caching rules for a shared cache (RFC 9111, 5861, 9213).
//
// What it is: the parsers for Cache-Control and CDN-Cache-Control, and `evaluate_response`,
// which turns a request/response pair into a `freshness` verdict: may a shared cache store
// it, for how long is it fresh, how old is it now, and how long past that may it be served
// stale while revalidating (stale-while-revalidate) or while the origin fails
// (stale-if-error). `edge_cache` is built on it; it is usable alone by any HTTP cache.
//
// When to pick it: whenever a cache sits between clients and an origin that speaks HTTP.
// Not for private (browser) caches: the rules here are the shared-cache ones (s-maxage wins,
// `private` forbids storing, Authorization needs explicit permission).
//
//   scaling::response_view res{.status = 200, .cache_control = "public, max-age=60, "
//                              "stale-while-revalidate=30", .date = date_header};
//   auto f = scaling::evaluate_response({}, res, sent_at, received_at);
//   if (f.storable() && f.is_fresh(now)) { /* serve from cache, Age: f.current_age(now) */ }
//
// Thread safety: pure functions and values. Complexity: linear in the header lengths.
//
// Hostile input: every parser reads through bounds-checked cursors, numbers saturate at
// 2^31 seconds (RFC 9111 section 1.2.2), and a malformed directive never makes a response
// fresher than a well-formed one would: an invalid max-age or s-maxage counts as 0 (stale,
// as RFC 9111 section 4.2.1 encourages), an invalid stale-* extension is ignored.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <scaling/cdn/detail/ascii.hpp>
#include <scaling/cdn/detail/structured_field.hpp>
#include <scaling/cdn/http_date.hpp>

namespace scaling {

// Delta-seconds beyond this are treated as this (RFC 9111 section 1.2.2).
inline constexpr std::chrono::seconds max_delta_seconds{2147483648LL};

// The directives of one Cache-Control (or targeted) field. A directive that appears more
// than once keeps its first occurrence.
struct cache_directives {
  std::optional<std::chrono::seconds> max_age;
  std::optional<std::chrono::seconds> s_maxage;
  std::optional<std::chrono::seconds> stale_while_revalidate;  // RFC 5861
  std::optional<std::chrono::seconds> stale_if_error;          // RFC 5861
  bool no_store = false;
  // Qualified forms (no-cache="Set-Cookie", private="X") are treated as unqualified: the
  // conservative reading, which never serves a field the origin wanted withheld.
  bool no_cache = false;
  bool is_private = false;
  bool is_public = false;
  bool must_revalidate = false;
  bool proxy_revalidate = false;
  bool no_transform = false;
  bool immutable = false;
  // Request directives (RFC 9111 section 5.2.1). max-stale without a value accepts any
  // staleness: seconds::max().
  std::optional<std::chrono::seconds> min_fresh;
  std::optional<std::chrono::seconds> max_stale;
  bool only_if_cached = false;
  // True when any part of the field was malformed (and was skipped or made conservative).
  bool malformed = false;
};

namespace detail {

inline bool is_tchar(char c) noexcept {
  if (ascii_is_alnum(c)) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

inline std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// delta-seconds = 1*DIGIT, saturating at 2^31. nullopt when not all digits.
inline std::optional<std::chrono::seconds> parse_delta_seconds(std::string_view s) noexcept {
  if (s.empty()) return std::nullopt;
  std::int64_t value = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    if (value < max_delta_seconds.count()) value = value * 10 + (c - '0');
  }
  return std::chrono::seconds{std::min<std::int64_t>(value, max_delta_seconds.count())};
}

// One parsed "name[=value]" member of a comma-separated list.
struct directive_token {
  std::string_view name;
  std::string value;  // unquoted
  bool has_value = false;
  bool malformed = false;
  bool quoted = false;  // the value was a quoted-string
};

// Walks a Cache-Control style list: #( token [ "=" ( token / quoted-string ) ] ).
// Calls `on(directive_token)` for each member; malformed members are reported with
// malformed = true and skipped up to the next top-level comma.
template <class F>
void for_each_directive(std::string_view field, F&& on) {
  std::size_t i = 0;
  const std::size_t n = field.size();
  const auto skip_ows = [&] {
    while (i < n && (field[i] == ' ' || field[i] == '\t'))
      ++i;
  };
  const auto skip_to_comma = [&] {
    bool quoted = false;
    while (i < n) {
      const char c = field[i];
      if (quoted && c == '\\') {
        i += 2;
        continue;
      }
      if (c == '"') quoted = !quoted;
      if (!quoted && c == ',') break;
      ++i;
    }
  };
  while (i < n) {
    skip_ows();
    if (i < n && field[i] == ',') {
      ++i;
      continue;
    }
    if (i >= n) break;
    directive_token token;
    const std::size_t start = i;
    while (i < n && is_tchar(field[i]))
      ++i;
    token.name = field.substr(start, i - start);
    skip_ows();
    if (token.name.empty()) {
      token.malformed = true;
      skip_to_comma();
      on(token);
      continue;
    }
    if (i < n && field[i] == '=') {
      ++i;
      skip_ows();
      token.has_value = true;
      if (i < n && field[i] == '"') {
        ++i;
        token.quoted = true;
        bool closed = false;
        while (i < n) {
          const char c = field[i++];
          if (c == '\\' && i < n) {
            token.value.push_back(field[i++]);
          } else if (c == '"') {
            closed = true;
            break;
          } else {
            token.value.push_back(c);
          }
        }
        if (!closed) token.malformed = true;
      } else {
        // '?' is not a tchar, but it starts a Structured Field boolean (?0 / ?1).
        const std::size_t value_start = i;
        while (i < n && (is_tchar(field[i]) || field[i] == '?'))
          ++i;
        token.value.assign(field.substr(value_start, i - value_start));
      }
      skip_ows();
    }
    if (i < n && field[i] != ',') {
      token.malformed = true;
      skip_to_comma();
    }
    on(token);
  }
}

// Applies one Cache-Control directive to `out`.
inline void apply_directive(const directive_token& token, cache_directives& out) {
  if (token.malformed) out.malformed = true;
  const auto seconds_value = [&](std::optional<std::chrono::seconds>& slot, bool invalid_is_zero) {
    if (slot) return;  // the first occurrence wins
    std::optional<std::chrono::seconds> parsed;
    if (token.has_value && !token.malformed) parsed = parse_delta_seconds(token.value);
    if (parsed) {
      slot = parsed;
    } else {
      out.malformed = true;
      if (invalid_is_zero) slot = std::chrono::seconds{0};
    }
  };
  const std::string_view name = token.name;
  if (iequals(name, "max-age")) {
    seconds_value(out.max_age, true);
  } else if (iequals(name, "s-maxage")) {
    seconds_value(out.s_maxage, true);
  } else if (iequals(name, "stale-while-revalidate")) {
    seconds_value(out.stale_while_revalidate, false);
  } else if (iequals(name, "stale-if-error")) {
    seconds_value(out.stale_if_error, false);
  } else if (iequals(name, "no-store")) {
    out.no_store = true;
  } else if (iequals(name, "no-cache")) {
    out.no_cache = true;
  } else if (iequals(name, "private")) {
    out.is_private = true;
  } else if (iequals(name, "public")) {
    out.is_public = true;
  } else if (iequals(name, "must-revalidate")) {
    out.must_revalidate = true;
  } else if (iequals(name, "proxy-revalidate")) {
    out.proxy_revalidate = true;
  } else if (iequals(name, "no-transform")) {
    out.no_transform = true;
  } else if (iequals(name, "immutable")) {
    out.immutable = true;
  } else if (iequals(name, "min-fresh")) {
    seconds_value(out.min_fresh, false);
  } else if (iequals(name, "max-stale")) {
    if (!token.has_value) {
      if (!out.max_stale) out.max_stale = std::chrono::seconds::max();
    } else {
      seconds_value(out.max_stale, false);
    }
  } else if (iequals(name, "only-if-cached")) {
    out.only_if_cached = true;
  }
  // Unknown directives are ignored, as RFC 9111 section 5.2.3 requires.
}

}  // namespace detail

// Parses a Cache-Control field value (several field lines: join them with ", ").
// Never throws on content; allocates only for quoted values.
[[nodiscard]] inline cache_directives parse_cache_control(std::string_view field) {
  cache_directives out;
  detail::for_each_directive(
      field, [&out](const detail::directive_token& token) { detail::apply_directive(token, out); });
  return out;
}

// Parses a targeted field such as CDN-Cache-Control (RFC 9213 section 2.2): a Structured
// Field Dictionary (RFC 8941) with the Cache-Control directive names. Returns nullopt when the
// field is absent, empty or invalid, in which case the cache falls back to Cache-Control as a
// whole (RFC 9213: "that field SHOULD be ignored"). Invalid means: not a Dictionary (a
// trailing comma, an integer of more than 15 digits, an uppercase key...), or a known
// directive whose value is not of the type its definition implies (RFC 9213 section 2.2:
// implementations "SHOULD NOT consume values that violate these inferred constraints"):
// max-age, s-maxage, stale-while-revalidate and stale-if-error take a non-negative Integer;
// no-store, public, must-revalidate, proxy-revalidate, no-transform and immutable a Boolean;
// no-cache and private a Boolean or a String. Parameters are ignored; a repeated directive
// keeps its last value (RFC 8941 section 4.2.2).
[[nodiscard]] inline std::optional<cache_directives> parse_targeted_cache_control(
    std::string_view field) {
  field = detail::trim_ows(field);
  if (field.empty()) return std::nullopt;
  const auto members = detail::parse_sf_dictionary(field);
  if (!members) return std::nullopt;
  using kind = detail::sf_item::kind;
  cache_directives out;
  for (const auto& member : *members) {
    // Named references, not a structured binding: lambdas below capture them.
    const std::string& name = member.key;
    const detail::sf_item& value = member.value;
    const auto delta = [&value](std::optional<std::chrono::seconds>& slot) {
      if (value.type != kind::integer || value.integer < 0) return false;
      slot = std::chrono::seconds{std::min<std::int64_t>(value.integer, max_delta_seconds.count())};
      return true;
    };
    const auto flag = [&value](bool& slot) {
      if (value.type != kind::boolean) return false;
      slot = value.integer == 1;
      return true;
    };
    // no-cache="field" and private="field" are read unqualified, as in Cache-Control.
    const auto flag_or_string = [&value, &flag](bool& slot) {
      if (value.type != kind::string) return flag(slot);
      slot = true;
      return true;
    };
    bool ok = true;
    if (name == "max-age") {
      ok = delta(out.max_age);
    } else if (name == "s-maxage") {
      ok = delta(out.s_maxage);
    } else if (name == "stale-while-revalidate") {
      ok = delta(out.stale_while_revalidate);
    } else if (name == "stale-if-error") {
      ok = delta(out.stale_if_error);
    } else if (name == "no-store") {
      ok = flag(out.no_store);
    } else if (name == "public") {
      ok = flag(out.is_public);
    } else if (name == "must-revalidate") {
      ok = flag(out.must_revalidate);
    } else if (name == "proxy-revalidate") {
      ok = flag(out.proxy_revalidate);
    } else if (name == "no-transform") {
      ok = flag(out.no_transform);
    } else if (name == "immutable") {
      ok = flag(out.immutable);
    } else if (name == "no-cache") {
      ok = flag_or_string(out.no_cache);
    } else if (name == "private") {
      ok = flag_or_string(out.is_private);
    }
    // Other members (extensions, request-only directives) are ignored (RFC 9111 5.2.3).
    if (!ok) return std::nullopt;
  }
  return out;
}

// The request fields a shared cache looks at.
struct request_view {
  std::string_view method = "GET";
  std::string_view cache_control;
  bool has_authorization = false;
};

// The response fields a shared cache looks at. Empty views mean "absent".
struct response_view {
  int status = 200;
  std::string_view cache_control;
  std::string_view cdn_cache_control;  // RFC 9213 targeted field
  std::string_view expires;
  std::string_view date;
  std::string_view age;
  std::string_view last_modified;
  std::string_view etag;
  std::string_view vary;
  std::string_view surrogate_key;
  bool has_set_cookie = false;
};

// Why a response may or may not be stored by a shared cache.
enum class store_verdict {
  storable,
  method_not_cacheable,  // only GET and HEAD responses are stored
  status_not_cacheable,  // not final, or not understood, or no explicit freshness for it
  no_store,              // Cache-Control: no-store (response or request)
  private_response,      // Cache-Control: private
  authorization,  // request had Authorization; response lacks public/s-maxage/must-revalidate
  set_cookie,     // per-user state: stored responses would leak it to other users
  vary_star,      // Vary: * can never be matched
};

[[nodiscard]] inline std::string_view to_string(store_verdict verdict) noexcept {
  switch (verdict) {
    case store_verdict::storable:
      return "storable";
    case store_verdict::method_not_cacheable:
      return "method_not_cacheable";
    case store_verdict::status_not_cacheable:
      return "status_not_cacheable";
    case store_verdict::no_store:
      return "no_store";
    case store_verdict::private_response:
      return "private";
    case store_verdict::authorization:
      return "authorization";
    case store_verdict::set_cookie:
      return "set_cookie";
    case store_verdict::vary_star:
      return "vary_star";
  }
  return "unknown";
}

// Heuristic freshness (RFC 9111 section 4.2.2) for responses without explicit lifetime.
enum class heuristic_freshness { allowed, disabled };

struct freshness_options {
  heuristic_freshness heuristic = heuristic_freshness::allowed;
  // Heuristic lifetime = fraction x (Date - Last-Modified), capped.
  double heuristic_fraction = 0.1;
  std::chrono::seconds heuristic_cap{std::chrono::hours{24}};
};

// A shared cache's verdict on one response, and the arithmetic to reuse it later.
struct freshness {
  store_verdict verdict = store_verdict::status_not_cacheable;
  std::chrono::seconds lifetime{0};     // freshness lifetime
  std::chrono::seconds initial_age{0};  // corrected_initial_age (RFC 9111 section 4.2.3)
  std::chrono::sys_seconds response_time{};
  std::chrono::seconds stale_while_revalidate{0};
  std::chrono::seconds stale_if_error{0};
  bool heuristic = false;          // lifetime came from Last-Modified
  bool revalidate_always = false;  // no-cache: never reused without a successful revalidation
  bool never_stale = false;        // must-revalidate, proxy-revalidate, s-maxage, or no-cache
  bool immutable = false;
  bool from_targeted_field = false;  // CDN-Cache-Control decided the policy

  [[nodiscard]] bool storable() const noexcept { return verdict == store_verdict::storable; }

  // current_age = corrected_initial_age + (now - response_time); never negative.
  [[nodiscard]] std::chrono::seconds current_age(std::chrono::sys_seconds now) const noexcept {
    const auto resident = std::max(std::chrono::seconds{0}, now - response_time);
    return initial_age + resident;
  }
  [[nodiscard]] bool is_fresh(std::chrono::sys_seconds now) const noexcept {
    return !revalidate_always && current_age(now) < lifetime;
  }
  // How far past its lifetime the response is at `now` (0 while fresh).
  [[nodiscard]] std::chrono::seconds staleness(std::chrono::sys_seconds now) const noexcept {
    return std::max(std::chrono::seconds{0}, current_age(now) - lifetime);
  }
  // Stale, but within stale-while-revalidate: serve it and refresh in the background.
  [[nodiscard]] bool usable_while_revalidating(std::chrono::sys_seconds now) const noexcept {
    return !is_fresh(now) && !never_stale && staleness(now) <= stale_while_revalidate &&
           stale_while_revalidate > std::chrono::seconds{0};
  }
  // Stale, but within stale-if-error: serve it when the origin fails.
  [[nodiscard]] bool usable_on_error(std::chrono::sys_seconds now) const noexcept {
    return !never_stale && staleness(now) <= stale_if_error &&
           stale_if_error > std::chrono::seconds{0};
  }
  // The last moment any reuse is possible (fresh, stale-while-revalidate or stale-if-error):
  // past it, a stored copy is useful only for conditional revalidation.
  [[nodiscard]] std::chrono::sys_seconds usable_until() const noexcept {
    const auto fresh_until = response_time + (lifetime - initial_age);
    if (never_stale) return fresh_until;
    return fresh_until + std::max(stale_while_revalidate, stale_if_error);
  }
};

namespace detail {

// Status codes that are heuristically cacheable (RFC 9110 section 15.1).
inline bool heuristically_cacheable(int status) noexcept {
  switch (status) {
    case 200:
    case 203:
    case 204:
    case 206:
    case 300:
    case 301:
    case 308:
    case 404:
    case 405:
    case 410:
    case 414:
    case 501:
      return true;
    default:
      return false;
  }
}

// Status codes this cache understands well enough to store with explicit freshness.
inline bool understood_status(int status) noexcept {
  return heuristically_cacheable(status) || status == 302 || status == 303 || status == 307 ||
         status == 403;
}

// Age: a non-negative integer; a list uses its first member; anything else is ignored.
inline std::chrono::seconds parse_age(std::string_view field) noexcept {
  const auto comma = field.find(',');
  const auto first = trim_ows(field.substr(0, comma));
  return parse_delta_seconds(first).value_or(std::chrono::seconds{0});
}

}  // namespace detail

// True when Vary names "*" (the response can never be matched to a request).
[[nodiscard]] inline bool vary_has_star(std::string_view vary) noexcept {
  bool star = false;
  detail::for_each_directive(vary, [&star](const detail::directive_token& token) {
    if (token.name == "*") star = true;
  });
  return star;
}

// The field names in a Vary value, lowercased, in order.
[[nodiscard]] inline std::vector<std::string> parse_vary(std::string_view vary) {
  std::vector<std::string> names;
  detail::for_each_directive(vary, [&names](const detail::directive_token& token) {
    if (token.name.empty() || token.malformed) return;
    std::string name{token.name};
    for (char& c : name)
      c = detail::ascii_lower(c);
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  });
  return names;
}

// The surrogate keys (tags) of a Surrogate-Key field: space-separated, duplicates removed.
[[nodiscard]] inline std::vector<std::string> parse_surrogate_keys(std::string_view field) {
  std::vector<std::string> keys;
  std::size_t i = 0;
  while (i < field.size()) {
    while (i < field.size() && (field[i] == ' ' || field[i] == '\t'))
      ++i;
    const std::size_t start = i;
    while (i < field.size() && field[i] != ' ' && field[i] != '\t')
      ++i;
    if (i > start) {
      std::string key{field.substr(start, i - start)};
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(std::move(key));
    }
  }
  return keys;
}

// Decides whether a shared cache may store `response` (to `request`), and computes its
// freshness lifetime and age. `request_time` is when the request was sent to the origin,
// `response_time` when the response arrived (both on the cache's wall clock).
[[nodiscard]] inline freshness evaluate_response(const request_view& request,
                                                 const response_view& response,
                                                 std::chrono::sys_seconds request_time,
                                                 std::chrono::sys_seconds response_time,
                                                 const freshness_options& options = {}) {
  using std::chrono::seconds;
  freshness out;
  out.response_time = response_time;

  const auto request_directives = parse_cache_control(request.cache_control);
  // RFC 9213: a valid targeted field replaces Cache-Control and Expires for this cache.
  const auto targeted = parse_targeted_cache_control(response.cdn_cache_control);
  const cache_directives directives =
      targeted ? *targeted : parse_cache_control(response.cache_control);
  out.from_targeted_field = targeted.has_value();

  // Age arithmetic (RFC 9111 section 4.2.3). A missing Date is the response time.
  const auto date = detail::trim_ows(response.date).empty()
                        ? std::optional<std::chrono::sys_seconds>{response_time}
                        : parse_http_date(response.date);
  const auto date_value = date.value_or(response_time);
  const seconds apparent_age = std::max(seconds{0}, response_time - date_value);
  const seconds response_delay = std::max(seconds{0}, response_time - request_time);
  const seconds age_value = detail::parse_age(response.age);
  const seconds corrected_age = std::min(age_value + response_delay, max_delta_seconds);
  out.initial_age = std::max(apparent_age, corrected_age);

  // Freshness lifetime (RFC 9111 section 4.2.1), shared cache order.
  bool explicit_lifetime = true;
  if (directives.s_maxage) {
    out.lifetime = *directives.s_maxage;
  } else if (directives.max_age) {
    out.lifetime = *directives.max_age;
  } else if (!targeted && !detail::trim_ows(response.expires).empty()) {
    // An invalid Expires (including "0") means already expired.
    const auto expires = parse_http_date(response.expires);
    out.lifetime = expires ? std::max(seconds{0}, *expires - date_value) : seconds{0};
  } else {
    explicit_lifetime = false;
    const auto last_modified = parse_http_date(response.last_modified);
    if (options.heuristic == heuristic_freshness::allowed && last_modified &&
        detail::heuristically_cacheable(response.status) && *last_modified < date_value) {
      const auto since = date_value - *last_modified;
      const auto heuristic_lifetime =
          std::chrono::duration_cast<seconds>(std::chrono::duration<double>(
              static_cast<double>(since.count()) * options.heuristic_fraction));
      out.lifetime = std::min(heuristic_lifetime, options.heuristic_cap);
      out.heuristic = true;
    }
  }

  out.stale_while_revalidate = directives.stale_while_revalidate.value_or(seconds{0});
  out.stale_if_error = directives.stale_if_error.value_or(seconds{0});
  out.revalidate_always = directives.no_cache;
  // s-maxage implies proxy-revalidate for shared caches (RFC 9111 section 5.2.2.10).
  out.never_stale = directives.must_revalidate || directives.proxy_revalidate ||
                    directives.s_maxage.has_value() || directives.no_cache;
  out.immutable = directives.immutable;

  // Storability (RFC 9111 section 3), checked in order of the most specific reason.
  if (request.method != "GET" && request.method != "HEAD") {
    out.verdict = store_verdict::method_not_cacheable;
  } else if (directives.no_store || request_directives.no_store) {
    out.verdict = store_verdict::no_store;
  } else if (directives.is_private) {
    out.verdict = store_verdict::private_response;
  } else if (request.has_authorization && !directives.is_public &&
             !directives.s_maxage.has_value() && !directives.must_revalidate) {
    out.verdict = store_verdict::authorization;
  } else if (response.has_set_cookie) {
    out.verdict = store_verdict::set_cookie;
  } else if (vary_has_star(response.vary)) {
    out.verdict = store_verdict::vary_star;
  } else if (!detail::understood_status(response.status) ||
             (!detail::heuristically_cacheable(response.status) && !explicit_lifetime &&
              !directives.is_public)) {
    out.verdict = store_verdict::status_not_cacheable;
  } else {
    out.verdict = store_verdict::storable;
  }
  return out;
}

}  // namespace scaling
