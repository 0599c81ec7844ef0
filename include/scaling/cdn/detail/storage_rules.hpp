// scaling/cdn/detail/storage_rules.hpp: what an edge cache stores, for how long, and how a
// 304 updates it.
//
// What it is: the stored entry (a response with its freshness, or a cached origin error, a
// Vary marker, a hit-for-miss marker) and the rules that decide about responses, on top of
// evaluate_response (cache_control.hpp):
//   - a 206 is not stored: this cache does not serve ranges (RFC 9111 section 3.3);
//   - an origin error is stored briefly (negative caching) unless it forbids storing
//     (no-store, private: RFC 9111 sections 5.2.2.5 and 5.2.2.7 are MUST NOTs);
//   - a response without Date gets one, the time it was received (RFC 9110 section 6.6.1);
//   - a 304 updates the stored copy only when its validator identifies that copy (RFC 9111
//     section 4.3.4), and its header fields replace the stored ones except the framing and
//     the ETag;
//   - a copy is kept for as long as it may be served, windows included: stale-while-
//     revalidate and stale-if-error are inclusive (stale by exactly N seconds is within
//     N), so the storage deadline is one second past the last usable second; a copy with
//     validators is kept longer, for a cheap 304 revalidation.
//
// When to pick it: inside edge_cache.
//
//   const freshness f = evaluate_for_edge(request, response, sent, received, options);
//   if (f.storable()) storage.put(key, entry, storage_ttl(f.usable_until(), now, keep));
//
// Thread safety: pure functions and value types. Complexity: linear in the header sizes.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <scaling/cdn/cache_control.hpp>
#include <scaling/cdn/detail/ascii.hpp>
#include <scaling/cdn/edge_request.hpp>
#include <scaling/cdn/http_date.hpp>

namespace scaling::detail {

enum class entry_kind : std::uint8_t { object, negative, vary_marker, hit_for_miss };

// One stored value: immutable once stored (a change stores a new entry).
template <class Response>
struct edge_entry {
  entry_kind kind = entry_kind::object;
  Response response{};
  freshness fresh{};
  std::vector<std::string> tags;
  std::uint64_t generation = 0;
  std::optional<std::chrono::sys_seconds> soft_purged_at;
  std::chrono::sys_seconds pass_until{};  // hit_for_miss
  std::chrono::sys_seconds negative_until{};
  std::shared_ptr<const edge_entry> previous;  // negative: the object copy it replaced, if any

  [[nodiscard]] bool is_fresh(std::chrono::sys_seconds now) const {
    if (kind == entry_kind::negative) return now < negative_until;
    return !soft_purged_at && fresh.is_fresh(now);
  }
  // Staleness counts from the purge for a soft-purged entry that was still fresh.
  [[nodiscard]] freshness effective() const {
    freshness f = fresh;
    if (soft_purged_at && f.is_fresh(*soft_purged_at)) {
      f.lifetime = f.current_age(*soft_purged_at);
    }
    return f;
  }
  [[nodiscard]] bool usable_while_revalidating(std::chrono::sys_seconds now) const {
    const freshness f = effective();
    return !f.never_stale && f.stale_while_revalidate > std::chrono::seconds{0} &&
           f.staleness(now) <= f.stale_while_revalidate;
  }
  [[nodiscard]] bool usable_on_error(std::chrono::sys_seconds now) const {
    return kind == entry_kind::object && effective().usable_on_error(now);
  }
};

// The caching-relevant fields of a response, owned, so a response_view can point at them.
struct response_fields {
  template <class Response>
  explicit response_fields(const Response& r)
      : status(r.status()),
        cache_control(r.header("Cache-Control")),
        cdn_cache_control(r.header("CDN-Cache-Control")),
        expires(r.header("Expires")),
        date(r.header("Date")),
        age(r.header("Age")),
        last_modified(r.header("Last-Modified")),
        etag(r.header("ETag")),
        vary(r.header("Vary")),
        set_cookie(r.header("Set-Cookie")) {}

  [[nodiscard]] response_view view() const noexcept {
    return {.status = status,
            .cache_control = cache_control,
            .cdn_cache_control = cdn_cache_control,
            .expires = expires,
            .date = date,
            .age = age,
            .last_modified = last_modified,
            .etag = etag,
            .vary = vary,
            .has_set_cookie = !set_cookie.empty()};
  }

  int status;
  std::string cache_control, cdn_cache_control, expires, date, age, last_modified, etag, vary,
      set_cookie;
};

// evaluate_response for this cache: a shared cache that does not serve ranges, so partial
// content is never stored (RFC 9111 section 3.3).
template <class Response>
[[nodiscard]] freshness evaluate_for_edge(const edge_request& request, const Response& r,
                                          std::chrono::sys_seconds request_time,
                                          std::chrono::sys_seconds response_time,
                                          const freshness_options& options) {
  const response_fields fields{r};
  freshness f = evaluate_response({.method = "GET",
                                   .cache_control = request.cache_control,
                                   .has_authorization = request.has_authorization},
                                  fields.view(), request_time, response_time, options);
  if (f.storable() && fields.status == 206) f.verdict = store_verdict::status_not_cacheable;
  return f;
}

// The failures stale-if-error and negative caching cover (RFC 5861): 500, 502, 503, 504.
[[nodiscard]] constexpr bool failed_status(int status) noexcept {
  return status == 500 || status == 502 || status == 503 || status == 504;
}

// True when the response (or request) forbids storing it at all, whatever its status:
// no-store, private, Authorization without permission, Set-Cookie, Vary: *. A negatively
// cached error obeys these as any response does (RFC 9111 sections 5.2.2.5, 5.2.2.7, 3.5).
[[nodiscard]] constexpr bool forbids_storing(store_verdict verdict) noexcept {
  return verdict != store_verdict::storable && verdict != store_verdict::status_not_cacheable &&
         verdict != store_verdict::method_not_cacheable;
}

template <class Response>
[[nodiscard]] bool has_validators(const Response& r) {
  return !std::string(r.header("ETag")).empty() || !std::string(r.header("Last-Modified")).empty();
}

// How long storage keeps an entry usable until `usable_until` (inclusive), plus `keep`.
[[nodiscard]] inline std::chrono::seconds storage_ttl(std::chrono::sys_seconds usable_until,
                                                      std::chrono::sys_seconds now,
                                                      std::chrono::seconds keep) noexcept {
  const auto usable = std::max(usable_until - now, std::chrono::seconds{-1});
  return usable + std::chrono::seconds{1} + keep;
}

// RFC 9110 section 6.6.1: a recipient that caches or forwards a response without Date adds
// one, the time it received it.
template <class Response>
void add_date_if_missing(Response& r, std::chrono::sys_seconds received) {
  if (trim_ows(std::string(r.header("Date"))).empty()) {
    r.set_header("Date", format_http_date(received));
  }
}

// RFC 9111 section 4.3.4: does a 304 identify `stored` for update? A strong ETag must match
// the stored strong ETag; a weak one matches by weak comparison; a 304 without ETag matches
// unless its Last-Modified contradicts the stored one.
template <class Response>
[[nodiscard]] bool not_modified_selects(const Response& stored, const Response& not_modified) {
  const std::string etag{trim_ows(std::string(not_modified.header("ETag")))};
  const std::string stored_etag{trim_ows(std::string(stored.header("ETag")))};
  if (!etag.empty()) {
    const auto weak = [](std::string_view t) { return t.substr(0, 2) == "W/"; };
    const auto opaque = [&](std::string_view t) { return weak(t) ? t.substr(2) : t; };
    if (!weak(etag)) return !weak(stored_etag) && etag == stored_etag;
    return !stored_etag.empty() && opaque(etag) == opaque(stored_etag);
  }
  const std::string last_modified{trim_ows(std::string(not_modified.header("Last-Modified")))};
  return last_modified.empty() ||
         last_modified == trim_ows(std::string(stored.header("Last-Modified")));
}

// The stored copy updated by a 304 (RFC 9111 section 4.3.4): the 304's header fields replace
// the stored ones, except the framing fields and the ETag (the copy keeps its own).
template <class Response>
[[nodiscard]] Response merge_not_modified(const Response& stored, const Response& not_modified) {
  Response merged = stored;
  if constexpr (requires { not_modified.headers(); }) {
    for (const auto& [name, value] : not_modified.headers()) {
      if (iequals(name, "Content-Length") || iequals(name, "Content-Encoding") ||
          iequals(name, "Content-Range") || iequals(name, "ETag")) {
        continue;
      }
      merged.set_header(name, value);
    }
  } else {
    for (const std::string_view name : {"Cache-Control", "CDN-Cache-Control", "Expires", "Date",
                                        "Age", "Last-Modified", "Surrogate-Key", "Vary"}) {
      const std::string value = not_modified.header(name);
      if (!value.empty()) merged.set_header(name, value);
    }
  }
  return merged;
}

// A response the cache makes up (502, 504): never stored downstream.
template <class Response>
[[nodiscard]] Response synthesized(int status) {
  Response r{};
  if constexpr (requires { r.set_status(status); }) r.set_status(status);
  r.set_header("Cache-Control", "no-store");
  return r;
}

}  // namespace scaling::detail
