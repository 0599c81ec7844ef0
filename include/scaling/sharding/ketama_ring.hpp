// scaling/sharding/ketama_ring.hpp: the ketama continuum exactly as libmemcached and twemproxy
// build it, so a C++ service shares a memcached fleet with clients in other languages.
//
// What it is: `scaling::ketama_ring` maps keys to "host:port" servers the way libmemcached's
// weighted ketama (MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED) does: same points, same MD5, same
// search, so every key lands on the server those clients pick.
//
// When to pick it: compatibility with existing ketama clients (libmemcached, pylibmc,
// twemproxy, spymemcached's KETAMA_HASH). For new systems prefer hash_ring: XXH3 instead of
// MD5 makes it several times faster and it is not limited to string nodes.
//
//   scaling::ketama_ring ring;
//   ring.add("10.0.1.1:11211", 600);
//   ring.add("10.0.1.2:11211", 300);
//   const std::string& server = ring.node_for("user:42");   // as libmemcached decides
//
// The algorithm (libmemcached 1.1.4, weighted mode): with N servers of total weight W, a
// server of weight w gets floor(float(w / W) * 160 / 4 * N + 1e-10) * 4 points (160 when
// weights are equal; the arithmetic is float, as in C, and reproduced as such). Its point
// string i is "host-i" when the port is 11211 and "host:port-i" otherwise; the MD5 digest of
// each string yields 4 points, its four little-endian 32-bit words. A key's hash is the first
// little-endian word of MD5(key); it belongs to the first point >= hash, wrapping to the first.
// MD5 comes from Boost (boost/uuid/detail/md5.hpp), never from hand-written code.
//
// Thread safety: const members may run concurrently; add/remove need exclusive access.
// Complexity: node_for O(key length) for MD5 (~100 ns) + O(1) expected search; add/remove
// rebuild the continuum, O(N x 160 x log): every server's share depends on the total weight.
#pragma once

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/uuid/detail/md5.hpp>
#include <boost/version.hpp>

#include <scaling/core/error.hpp>
#include <scaling/sharding/detail/common.hpp>

namespace scaling {

namespace detail {

// The 16-byte MD5 digest of `bytes`, in the standard byte order (RFC 1321).
inline std::array<std::uint8_t, 16> md5_digest(std::string_view bytes) noexcept {
  boost::uuids::detail::md5 md5;
  md5.process_bytes(bytes.data(), bytes.size());
  boost::uuids::detail::md5::digest_type digest;
  md5.get_digest(digest);
  std::array<std::uint8_t, 16> out{};
#if BOOST_VERSION >= 108600
  // From 1.86 the digest is the 16 bytes in order.
  for (std::size_t i = 0; i < 16; ++i)
    out[i] = static_cast<std::uint8_t>(digest[i]);
#elif defined(BOOST_UUID_COMPAT_PRE_1_71_MD5)
  // The old layout stores the bytes in order inside the four words.
  const auto* raw = reinterpret_cast<const unsigned char*>(&digest[0]);
  for (std::size_t i = 0; i < 16; ++i)
    out[i] = raw[i];
#else
  // 1.71..1.85 store each 4-byte group so that the word, read natively, holds the group's
  // bytes big-endian: byte 4w + k is bits (3 - k) * 8 .. of word w, on any platform.
  for (std::size_t w = 0; w < 4; ++w) {
    const auto word = static_cast<std::uint32_t>(digest[w]);
    for (std::size_t k = 0; k < 4; ++k) {
      out[4 * w + k] = static_cast<std::uint8_t>((word >> (8 * (3 - k))) & 0xffu);
    }
  }
#endif
  return out;
}

inline std::uint32_t le_word(const std::array<std::uint8_t, 16>& d, std::size_t w) noexcept {
  return std::uint32_t{d[4 * w]} | (std::uint32_t{d[4 * w + 1]} << 8) |
         (std::uint32_t{d[4 * w + 2]} << 16) | (std::uint32_t{d[4 * w + 3]} << 24);
}

}  // namespace detail

// ketama's key hash: the first little-endian 32-bit word of MD5(key) (libmemcached's
// MEMCACHED_HASH_MD5).
[[nodiscard]] inline std::uint32_t ketama_hash(std::string_view key) noexcept {
  return detail::le_word(detail::md5_digest(key), 0);
}

class ketama_ring {
 public:
  using node_type = std::string;

  static constexpr std::uint16_t default_port = 11211;
  static constexpr std::uint32_t points_per_server = 160;

  ketama_ring() = default;

  // Servers "host[:port]" with weight 1, built in one pass.
  ketama_ring(std::initializer_list<std::string_view> servers) {
    for (std::string_view server : servers)
      servers_.push_back(parse(servers_, server, 1));
    build(servers_).swap(points_);
  }

  // Servers with weights, built in one pass (adding N servers one by one costs N rebuilds).
  explicit ketama_ring(const std::vector<std::pair<std::string, std::uint32_t>>& servers) {
    for (const auto& [server, weight] : servers)
      servers_.push_back(parse(servers_, server, weight));
    build(servers_).swap(points_);
  }

  // Adds `server` ("host" or "host:port"; port 11211 by default) with `weight`; every
  // server's point count is recomputed, as libmemcached does.
  // Throws scaling::invalid_argument for weight 0, an empty host, a bad port, or a server
  // already present (same host and port), or std::bad_alloc. Strong guarantee: the new
  // continuum is built aside and swapped in.
  void add(std::string_view server, std::uint32_t weight = 1) {
    std::vector<server_entry> servers;
    servers.reserve(servers_.size() + 1);
    servers = servers_;
    servers.push_back(parse(servers_, server, weight));
    detail::sorted_points<std::uint32_t> points = build(servers);
    servers_.swap(servers);
    points_.swap(points);
  }

  // Removes `server`. Throws scaling::invalid_argument when it is not a member, or
  // std::bad_alloc. Strong guarantee.
  void remove(std::string_view server) {
    const std::size_t i = index_of(server);
    if (i == servers_.size()) {
      detail::throw_invalid_argument(component, "server", "must be a member to be removed", server);
    }
    std::vector<server_entry> servers = servers_;
    servers.erase(servers.begin() + static_cast<std::ptrdiff_t>(i));
    detail::sorted_points<std::uint32_t> points = build(servers);
    servers_.swap(servers);
    points_.swap(points);
  }

  // The server for `key`, as given to add(). Throws scaling::invalid_argument when empty.
  [[nodiscard]] const std::string& node_for(std::string_view key) const {
    if (servers_.empty()) detail::throw_empty(component);
    return servers_[points_.owner(points_.successor(ketama_hash(key)))].name;
  }

  // The server owning ketama hash `h`.
  [[nodiscard]] const std::string& node_for_hash(std::uint32_t h) const {
    if (servers_.empty()) detail::throw_empty(component);
    return servers_[points_.owner(points_.successor(h))].name;
  }

  [[nodiscard]] bool contains(const std::string& server) const {
    return index_of(server) != servers_.size();
  }
  [[nodiscard]] std::size_t size() const noexcept { return servers_.size(); }
  [[nodiscard]] bool empty() const noexcept { return servers_.empty(); }
  // Points on the continuum (1264 for the libmemcached fixture).
  [[nodiscard]] std::size_t point_count() const noexcept { return points_.size(); }
  // Points of one server (0 for a non-member).
  [[nodiscard]] std::size_t point_count(std::string_view server) const {
    const std::size_t i = index_of(server);
    if (i == servers_.size()) return 0;
    return static_cast<std::size_t>(std::count(points_.owners().begin(), points_.owners().end(),
                                               static_cast<std::uint32_t>(i)));
  }
  [[nodiscard]] std::uint32_t point_position(std::size_t i) const { return points_.position(i); }
  [[nodiscard]] const std::string& point_server(std::size_t i) const {
    return servers_[points_.owner(i)].name;
  }

 private:
  static constexpr std::string_view component = "scaling::ketama_ring";

  struct server_entry {
    std::string name;  // as given
    std::string host;
    std::uint16_t port;
    std::uint32_t weight;
  };

  // `text` parsed into a server entry. Throws scaling::invalid_argument for weight 0, a bad
  // server string, or a server already in `servers`.
  [[nodiscard]] static server_entry parse(const std::vector<server_entry>& servers,
                                          std::string_view text, std::uint32_t weight) {
    if (weight == 0) detail::throw_invalid_argument(component, "weight", "must be >= 1", weight);
    server_entry parsed{std::string{text}, std::string{text}, default_port, weight};
    const std::size_t colon = text.rfind(':');
    if (colon != std::string_view::npos) {
      const std::string_view digits = text.substr(colon + 1);
      unsigned port = 0;
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
      if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() ||
          port == 0 || port > 65535) {
        detail::throw_invalid_argument(component, "server", "must be host or host:port (1..65535)",
                                       text);
      }
      parsed.host = std::string{text.substr(0, colon)};
      parsed.port = static_cast<std::uint16_t>(port);
    }
    if (parsed.host.empty()) {
      detail::throw_invalid_argument(component, "server", "must name a host", text);
    }
    for (const server_entry& s : servers) {
      if (s.host == parsed.host && s.port == parsed.port) {
        detail::throw_invalid_argument(component, "server", "must not be a duplicate", text);
      }
    }
    return parsed;
  }

  [[nodiscard]] std::size_t index_of(std::string_view text) const {
    for (std::size_t i = 0; i < servers_.size(); ++i) {
      if (servers_[i].name == text) return i;
    }
    // Also accept the other spelling of the same server ("h" vs "h:11211").
    for (std::size_t i = 0; i < servers_.size(); ++i) {
      const server_entry& s = servers_[i];
      if (s.port == default_port && (text == s.host || text == s.host + ":11211")) return i;
    }
    return servers_.size();
  }

  // The continuum of `servers`.
  [[nodiscard]] static detail::sorted_points<std::uint32_t> build(
      const std::vector<server_entry>& servers) {
    std::uint64_t total_weight = 0;
    for (const server_entry& s : servers)
      total_weight += s.weight;
    const auto live = static_cast<float>(servers.size());
    std::vector<point> all;
    all.reserve(servers.size() * points_per_server);
    std::string name;
    char digits[16];
    for (std::size_t index = 0; index < servers.size(); ++index) {
      const server_entry& s = servers[index];
      // Reproduces libmemcached's float arithmetic step by step (each step rounds to float).
      const float pct = static_cast<float>(s.weight) / static_cast<float>(total_weight);
      float scaled = pct * static_cast<float>(points_per_server);
      scaled = scaled / 4.0f;
      scaled = scaled * live;
      const auto hashes =
          static_cast<std::uint32_t>(std::floor(static_cast<double>(scaled) + 0.0000000001));
      name = s.host;
      if (s.port != default_port) {
        name.push_back(':');
        name += std::to_string(s.port);
      }
      name.push_back('-');
      const std::size_t stem = name.size();
      for (std::uint32_t i = 0; i < hashes; ++i) {
        const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, i);
        name.resize(stem);
        name.append(digits, end);
        const auto digest = detail::md5_digest(name);
        for (std::size_t w = 0; w < 4; ++w) {
          all.push_back({detail::le_word(digest, w), static_cast<std::uint32_t>(index)});
        }
      }
    }
    detail::sorted_points<std::uint32_t> points;
    points.assign(std::move(all));
    return points;
  }

  using point = detail::sorted_points<std::uint32_t>::point;
  std::vector<server_entry> servers_;
  detail::sorted_points<std::uint32_t> points_;
};

}  // namespace scaling
