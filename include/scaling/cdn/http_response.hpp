// scaling/cdn/http_response.hpp: the response type an edge cache stores, and its concept.
//
// What it is: `scaling::edge_response` is what `edge_cache` needs from a response (status,
// case-insensitive header lookup, header updates, a size in bytes); `scaling::http_response`
// is a plain implementation of it (status, ordered header list, body), used by the examples,
// the tests and `edge_server`, which converts to and from Boost.Beast messages.
//
//   scaling::http_response r{200, {{"Cache-Control", "max-age=60"}}, "hello"};
//   r.set_header("Age", "3");
//   assert(r.header("cache-control") == "max-age=60");
//
// Thread safety: a value type; distinct objects may be used from distinct threads. Copies
// share the body (an immutable buffer), so copying a response served from cache costs its
// headers, not its body, and a copy may be read while other copies are.
// Complexity: header lookup is linear in the number of headers (responses have few).
#pragma once

#include <concepts>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <scaling/cdn/cache_control.hpp>

namespace scaling {

// A response an edge cache can store and serve:
//   - copyable (the cache hands out copies, never references into itself);
//   - `status()`: the HTTP status code;
//   - `header(name)`: the field value for a case-insensitive name, "" when absent (several
//     field lines of one name are returned joined with ", ");
//   - `set_header(name, value)` replaces (or adds) a field, `remove_header(name)` drops it;
//   - `size_bytes()`: what the entry costs in memory, for the byte bound.
template <class R>
concept edge_response = std::copy_constructible<R> &&
    requires(R& r, const R& cr, std::string_view name, std::string_view value) {
  { cr.status() } -> std::convertible_to<int>;
  { cr.header(name) } -> std::convertible_to<std::string>;
  r.set_header(name, value);
  r.remove_header(name);
  { cr.size_bytes() } -> std::convertible_to<std::size_t>;
};

// A complete HTTP response held in memory.
class http_response {
 public:
  using header_list = std::vector<std::pair<std::string, std::string>>;

  http_response() = default;
  http_response(int status, header_list headers, std::string body)
      : status_(status),
        headers_(std::move(headers)),
        body_(std::make_shared<const std::string>(std::move(body))) {}

  [[nodiscard]] int status() const noexcept { return status_; }
  void set_status(int status) noexcept { status_ = status; }
  [[nodiscard]] const std::string& body() const noexcept {
    static const std::string empty;
    return body_ ? *body_ : empty;
  }
  void set_body(std::string body) { body_ = std::make_shared<const std::string>(std::move(body)); }
  [[nodiscard]] const header_list& headers() const noexcept { return headers_; }

  // The value of `name` (case-insensitive); several lines are joined with ", ".
  [[nodiscard]] std::string header(std::string_view name) const {
    std::string value;
    for (const auto& [field, field_value] : headers_) {
      if (!detail::iequals(field, name)) continue;
      if (!value.empty()) value.append(", ");
      value.append(field_value);
    }
    return value;
  }
  [[nodiscard]] bool has_header(std::string_view name) const noexcept {
    for (const auto& entry : headers_) {
      if (detail::iequals(entry.first, name)) return true;
    }
    return false;
  }
  void set_header(std::string_view name, std::string_view value) {
    remove_header(name);
    headers_.emplace_back(std::string{name}, std::string{value});
  }
  void add_header(std::string_view name, std::string_view value) {
    headers_.emplace_back(std::string{name}, std::string{value});
  }
  void remove_header(std::string_view name) {
    std::erase_if(headers_,
                  [name](const auto& entry) { return detail::iequals(entry.first, name); });
  }
  [[nodiscard]] std::size_t size_bytes() const noexcept {
    std::size_t size = sizeof(*this) + body().size();
    for (const auto& [field, value] : headers_)
      size += field.size() + value.size() + 4;
    return size;
  }

 private:
  int status_ = 200;
  header_list headers_;
  std::shared_ptr<const std::string> body_;
};

static_assert(edge_response<http_response>);

}  // namespace scaling
