// protocol.hpp: the chat relay's wire protocol, length-prefixed binary frames.
//
// What it is: the frames clients and relays exchange (docs/cases/whatsapp.md has the table),
// an encoder (`frame_writer`) and a bounds-checked decoder (`frame_reader`). Every frame is a
// 4-byte big-endian payload length L (1 <= L <= max_frame_bytes), then L bytes: a 1-byte type
// and the type's fields, integers big-endian, a body running to the end of the payload.
//
//   std::string f =
//   frame_writer{frame_type::send}.u64(bob).u64(1).u8(text_lane).u64(now).body("hi").done();
//   frame_reader r{payload};                 // payload = f without its 4-byte length
//   auto type = r.type(); auto to = r.u64(); ...; if (!r.ok()) -> malformed
//
// Message identity: (from, to, lane, msg_id). The sender numbers each conversation (one sender,
// one recipient, one lane) 1, 2, 3, ... and never reuses a number, so a resend is recognised
// by the recipient's home relay (dedup) and by the recipient (dedup), and a gap is detected.
// Thread safety: none needed (values). Complexity: O(frame size).
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <scaling/core/error.hpp>
#include <scaling/sharding/hash_ring.hpp>

namespace chat {

enum class frame_type : std::uint8_t {
  // client -> relay
  hello = 0x01,          // u64 user
  send = 0x02,           // u64 to, u64 msg_id, u8 lane, u64 sent_ns, body
  delivered_ack = 0x03,  // u64 from, u64 msg_id, u8 lane: delete it, tell the sender
  read_ack = 0x04,       // u64 from, u64 msg_id, u8 lane: tell the sender (blue ticks)
  ping = 0x05,           // u64 token
  // relay -> client
  welcome = 0x81,  // u64 user, u8 mode, u32 relay index
  sent = 0x82,     // u64 to, u64 msg_id, u8 lane, u8 send_result  (the first tick)
  deliver = 0x83,  // u64 from, u64 msg_id, u8 lane, u64 sent_ns, body
  receipt = 0x84,  // u64 to, u64 msg_id, u8 lane, u8 receipt_kind (second tick, blue ticks)
  pong = 0x85,     // u64 token
  error = 0x86,    // u8 error_code, text; the relay closes the connection after it
  // relay <-> relay
  peer_hello = 0x41,       // u32 relay index
  forward = 0x42,          // u64 from, u64 to, u64 msg_id, u8 lane, u64 sent_ns, body
  forward_result = 0x43,   // u64 from, u64 to, u64 msg_id, u8 lane, u8 send_result
  receipt_forward = 0x44,  // u64 sender, u64 recipient, u64 msg_id, u8 lane, u8 receipt_kind
};

// What happened to a send, as the sender's relay reports it.
enum class send_result : std::uint8_t {
  stored = 0,             // V2/V3: durable at the recipient's home relay, recipient offline
  delivered = 1,          // handed to the recipient's connection (V2/V3: also stored until acked)
  recipient_offline = 2,  // V1: the recipient is offline; nothing kept (fail back)
  unknown_recipient = 3,  // no such user: do not resend
  retry = 4,              // home relay unreachable, full, or a gap in msg_id: resend later
};

enum class receipt_kind : std::uint8_t { delivered = 2, read = 3 };

enum class error_code : std::uint8_t {
  malformed = 1,       // a frame that does not parse, or a type not allowed here
  too_large = 2,       // length 0 or above max_frame_bytes
  unknown_user = 3,    // hello with a user id outside 1..users
  wrong_relay = 4,     // hello at a relay that is not the user's home
  slow_reader = 5,     // the connection's outbox passed its limit
  protocol_order = 6,  // anything but hello / peer_hello / ping before hello
};

// The relay's version of WhatsApp's delivery.
enum class relay_mode : std::uint8_t {
  v1_direct = 1,  // forward live or fail back; nothing stored
  v2_queues = 2,  // offline mailboxes persisted in an append-only log
  v3_pooled = 3,  // V2 + pooled relay links + priority lanes + backpressure
};

// "v1", "v2" or "v3" as a mode; nullopt for anything else (the --mode flag of both programs).
[[nodiscard]] inline std::optional<relay_mode> parse_relay_mode(std::string_view text) noexcept {
  if (text == "v1") return relay_mode::v1_direct;
  if (text == "v2") return relay_mode::v2_queues;
  if (text == "v3") return relay_mode::v3_pooled;
  return std::nullopt;
}

inline constexpr std::uint8_t bulk_lane = 0;  // media and other large bodies
inline constexpr std::uint8_t text_lane = 1;  // text: delivered ahead of bulk in V3
inline constexpr std::size_t length_prefix_bytes = 4;

// Builds one frame (length prefix included).
class frame_writer {
 public:
  explicit frame_writer(frame_type type) : out_(length_prefix_bytes, '\0') {
    out_.push_back(static_cast<char>(type));
  }
  frame_writer& u8(std::uint8_t v) {
    out_.push_back(static_cast<char>(v));
    return *this;
  }
  frame_writer& u32(std::uint32_t v) { return put(v, 4); }
  frame_writer& u64(std::uint64_t v) { return put(v, 8); }
  frame_writer& body(std::string_view b) {
    out_.append(b);
    return *this;
  }
  // The frame, with its length prefix filled in.
  [[nodiscard]] std::string done() {
    const auto n = static_cast<std::uint32_t>(out_.size() - length_prefix_bytes);
    for (std::size_t i = 0; i < length_prefix_bytes; ++i)
      out_[i] = static_cast<char>((n >> (8 * (3 - i))) & 0xffu);
    return std::move(out_);
  }

 private:
  frame_writer& put(std::uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i)
      out_.push_back(static_cast<char>((v >> (8 * i)) & 0xffu));
    return *this;
  }
  std::string out_;
};

// The payload length announced by a 4-byte prefix.
[[nodiscard]] inline std::uint32_t read_length(const unsigned char* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

// Reads one payload (without the length prefix). A read past the end yields 0 and makes ok()
// false for good, so a decoder reads every field and checks once.
class frame_reader {
 public:
  explicit frame_reader(std::string_view payload) : p_(payload) {}
  [[nodiscard]] frame_type type() { return static_cast<frame_type>(u8()); }
  [[nodiscard]] std::uint8_t u8() { return static_cast<std::uint8_t>(get(1)); }
  [[nodiscard]] std::uint32_t u32() { return static_cast<std::uint32_t>(get(4)); }
  [[nodiscard]] std::uint64_t u64() { return get(8); }
  // The rest of the payload.
  [[nodiscard]] std::string_view body() {
    const std::string_view rest = p_.substr(pos_ < p_.size() ? pos_ : p_.size());
    pos_ = p_.size();
    return rest;
  }
  [[nodiscard]] bool ok() const noexcept { return ok_; }
  // ok() and every byte consumed: a fixed-size frame with trailing garbage is malformed.
  [[nodiscard]] bool complete() const noexcept { return ok_ && pos_ == p_.size(); }

 private:
  std::uint64_t get(std::size_t bytes) {
    if (p_.size() - pos_ < bytes || pos_ > p_.size()) {
      ok_ = false;
      pos_ = p_.size();
      return 0;
    }
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < bytes; ++i)
      v = (v << 8) | static_cast<unsigned char>(p_[pos_ + i]);
    pos_ += bytes;
    return v;
  }
  std::string_view p_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

// A message's identity within its recipient's store.
struct message_key {
  std::uint64_t from = 0;
  std::uint64_t msg_id = 0;
  std::uint8_t lane = 0;
  friend bool operator==(const message_key&, const message_key&) = default;
};

struct message_key_hash {
  std::size_t operator()(const message_key& k) const noexcept {
    std::uint64_t h = k.from * 0x9e3779b97f4a7c15ull ^ (k.msg_id + 0x632be59bd9b4e019ull) ^
                      (std::uint64_t{k.lane} << 56);
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 29;
    return static_cast<std::size_t>(h);
  }
};

// One conversation: a sender, a recipient and a lane.
struct conversation_key {
  std::uint64_t from = 0;
  std::uint64_t to = 0;
  std::uint8_t lane = 0;
  friend bool operator==(const conversation_key&, const conversation_key&) = default;
};

struct conversation_key_hash {
  std::size_t operator()(const conversation_key& k) const noexcept {
    return message_key_hash{}({k.from, k.to * 0x94d049bb133111ebull + 1, k.lane});
  }
};

// The cluster: relay i listens on addresses[i] and is the node "relay-<i>" of a
// scaling::hash_ring; a user's home relay is the ring's node for the user id. Relays and
// clients build the same map from the same address list, so they agree without talking.
class cluster_map {
 public:
  // Throws: scaling::invalid_argument if `addresses` is empty or an address is not host:port.
  explicit cluster_map(std::vector<std::string> addresses) : addresses_(std::move(addresses)) {
    if (addresses_.empty())
      scaling::detail::throw_invalid_argument("chat::cluster_map", "cluster", "must not be empty");
    for (std::size_t i = 0; i < addresses_.size(); ++i) {
      (void)split(addresses_[i]);
      ring_.add("relay-" + std::to_string(i));
    }
  }
  [[nodiscard]] std::size_t home_of(std::uint64_t user) const {
    return ring_.index_of(ring_.node_for(user));
  }
  [[nodiscard]] std::size_t size() const noexcept { return addresses_.size(); }
  [[nodiscard]] const std::string& address(std::size_t i) const { return addresses_.at(i); }
  // "host:port" split into host and port.
  [[nodiscard]] static std::pair<std::string, std::uint16_t> split(const std::string& address) {
    const auto colon = address.rfind(':');
    std::uint16_t port = 0;
    const char* first = address.data() + (colon == std::string::npos ? 0 : colon + 1);
    const char* last = address.data() + address.size();
    const auto [end, ec] = std::from_chars(first, last, port);
    if (colon == std::string::npos || colon == 0 || ec != std::errc{} || end != last) {
      scaling::detail::throw_invalid_argument("chat::cluster_map", "cluster",
                                              "each address must be host:port", address);
    }
    return {address.substr(0, colon), port};
  }

 private:
  std::vector<std::string> addresses_;
  scaling::hash_ring<std::string> ring_;
};

}  // namespace chat
