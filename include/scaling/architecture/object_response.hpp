// scaling/architecture/object_response.hpp: an HTTP response that stands for an object of a
// given size without holding its bytes, so the lab's CDN tier runs the real edge cache.
//
// What it is: `object_response`, a model of `scaling::edge_response` (cdn/http_response.hpp):
// a status, a few header fields (Cache-Control, Date, Age: what the edge reads and writes),
// the object's version, and its size in bytes, which `size_bytes()` reports to the edge's byte
// bound. A million objects of a megabyte each cost the lab a few dozen bytes apiece.
//
// When to pick it: as the Response of `edge_cache` in a simulation, where the bytes' content
// does not matter and their number does (cache capacity in bytes, bytes served per tier).
//
//   scaling::architecture::object_response r{200, 4'096, 7};
//   r.set_header("Cache-Control", "public, max-age=60");
//   scaling::edge_cache<scaling::architecture::object_response> edge{...};
//
// Thread safety: a value type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "scaling/cdn/detail/ascii.hpp"
#include "scaling/cdn/http_response.hpp"

namespace scaling::architecture {

class object_response {
 public:
  object_response() = default;
  object_response(int status, std::uint64_t body_bytes, std::uint64_t version)
      : status_(status), body_bytes_(body_bytes), version_(version) {}

  [[nodiscard]] int status() const noexcept { return status_; }
  void set_status(int status) noexcept { status_ = status; }
  [[nodiscard]] std::uint64_t body_bytes() const noexcept { return body_bytes_; }
  [[nodiscard]] std::uint64_t version() const noexcept { return version_; }

  [[nodiscard]] std::string header(std::string_view name) const {
    for (const auto& [n, v] : headers_)
      if (scaling::detail::iequals(n, name)) return v;
    return {};
  }
  void set_header(std::string_view name, std::string_view value) {
    for (auto& [n, v] : headers_) {
      if (scaling::detail::iequals(n, name)) {
        v.assign(value);
        return;
      }
    }
    headers_.emplace_back(std::string{name}, std::string{value});
  }
  void remove_header(std::string_view name) {
    std::erase_if(headers_,
                  [&](const auto& field) { return scaling::detail::iequals(field.first, name); });
  }
  // What the entry costs the edge's byte bound: the object's bytes and the header fields.
  [[nodiscard]] std::size_t size_bytes() const noexcept {
    std::size_t n = static_cast<std::size_t>(body_bytes_);
    for (const auto& [name, value] : headers_)
      n += name.size() + value.size();
    return n;
  }

 private:
  int status_ = 200;
  std::uint64_t body_bytes_ = 0;
  std::uint64_t version_ = 0;
  std::vector<std::pair<std::string, std::string>> headers_;
};

static_assert(edge_response<object_response>);

}  // namespace scaling::architecture
