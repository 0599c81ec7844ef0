// log_store.hpp: the relay's embedded append-only log with group-committed fsync.
//
// What it is: `chat::log_store`, the default chat::message_store (store.hpp), persists a
// V2/V3 relay's offline messages in one file,
// <dir>/messages.log. A stored message is a `store` record; its delivered-ack appends an
// `erase` record. append() hands a record to a flusher thread, which writes everything queued
// since its last fsync in one write() and one fdatasync(), then runs the records' `durable`
// callbacks: the relay tells the sender "sent" only from there, so a crash (SIGKILL, power
// loss) never loses a message the sender saw acknowledged. Records that arrive while an fsync
// runs form the next batch (group commit): one fsync covers many messages under load.
//
//   chat::log_store log{"/var/lib/relay"};
//   auto recovered = log.open();             // replay + compact: live messages in log order
//   log.append({.kind = chat::record_kind::store, ...},
//              [](chat::store_result r) { /* durable: ack the sender */ });
//   log.close();                             // flushes, joins the flusher
//
// Format: records of [u32 length][u32 crc32][payload]; replay stops at the first torn or
// corrupt record and truncates the file there. open() rewrites the file with only what is
// live (plus each conversation's highest msg_id, which dedup and the gap check need), into a
// temporary file renamed over the old one, so the log is compacted on every start.
// Thread safety: append() from any thread; open() and close() from one controlling thread.
// `done` callbacks run on the flusher thread.
// Failures: a write() or fdatasync() that fails reports its batch failed and every later
// batch too (after a failed fsync the file's state is unknown: the relay must be restarted,
// which replays what did reach the disk); the relay answers "retry" meanwhile.
// Complexity: append O(record); open O(log size).
#pragma once

#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <functional>
#include <list>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/crc.hpp>

#include "protocol.hpp"
#include "store.hpp"

namespace chat {

class log_store {
 public:
  struct options {
    std::filesystem::path dir;  // where messages.log lives (created if missing)
  };

  explicit log_store(options o) : dir_(std::move(o.dir)) {}
  explicit log_store(std::filesystem::path dir) : dir_(std::move(dir)) {}
  log_store(const log_store&) = delete;
  log_store& operator=(const log_store&) = delete;
  ~log_store() { close(); }

  // Replays and compacts the log, then starts the flusher.
  // Throws: std::system_error when the directory or the file cannot be used.
  [[nodiscard]] recovered_messages open() {
    std::filesystem::create_directories(dir_);
    const auto path = dir_ / "messages.log";
    recovered_messages out = replay(path);
    const auto tmp = dir_ / "messages.log.tmp";
    {
      const int fd = checked(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644),
                             "open messages.log.tmp");
      std::string buf;
      for (const auto& [conv, id] : out.high_water)
        encode(buf, {record_kind::high_water, conv.to, conv.from, id, conv.lane, 0, {}});
      for (const auto& r : out.live)
        encode(buf, r);
      write_all(fd, buf);
      checked(::fdatasync(fd), "fdatasync");
      ::close(fd);
    }
    std::filesystem::rename(tmp, path);
    sync_directory();
    fd_ = checked(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC), "open messages.log");
    flusher_ = std::thread{[this] { flush_loop(); }};
    return out;
  }

  // Queues `r`; `done` (may be empty) runs on the flusher thread once r is on disk (durable)
  // or its write failed (failed). Returns false after close() (nothing queued).
  bool append(const store_record& r, store_callback done) {
    std::lock_guard lock{mutex_};
    if (closed_) return false;
    encode(pending_, r);
    ++stats_.records;
    ++pending_records_;
    if (done) callbacks_.push_back(std::move(done));
    wake_.notify_one();
    return true;
  }

  // Flushes what is queued, stops the flusher and closes the file. Idempotent.
  void close() {
    {
      std::lock_guard lock{mutex_};
      if (closed_) return;
      closed_ = true;
    }
    wake_.notify_one();
    if (flusher_.joinable()) flusher_.join();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  [[nodiscard]] store_stats stats() const {
    std::lock_guard lock{mutex_};
    return stats_;
  }

  // "log <dir>/messages.log (fdatasync per batch)".
  [[nodiscard]] std::string describe() const {
    return "log " + (dir_ / "messages.log").string() + " (fdatasync per batch)";
  }

 private:
  static int checked(int rc, const char* what) {
    if (rc < 0) throw std::system_error{errno, std::generic_category(), what};
    return rc;
  }

  static void put(std::string& b, std::uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i)
      b.push_back(static_cast<char>((v >> (8 * i)) & 0xffu));
  }

  static void encode(std::string& out, const store_record& r) {
    std::string p;
    p.push_back(static_cast<char>(r.kind));
    put(p, r.to, 8);
    put(p, r.from, 8);
    put(p, r.msg_id, 8);
    p.push_back(static_cast<char>(r.lane));
    if (r.kind == record_kind::store) {
      put(p, r.sent_ns, 8);
      p.append(r.body);
    }
    boost::crc_32_type crc;
    crc.process_bytes(p.data(), p.size());
    put(out, p.size(), 4);
    put(out, crc.checksum(), 4);
    out.append(p);
  }

  static void write_all(int fd, const std::string& buf) {
    std::size_t done = 0;
    while (done < buf.size()) {
      const ssize_t n = ::write(fd, buf.data() + done, buf.size() - done);
      if (n < 0 && errno == EINTR) continue;
      checked(static_cast<int>(n < 0 ? -1 : 0), "write messages.log");
      done += static_cast<std::size_t>(n);
    }
  }

  void sync_directory() const {
    const int fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    (void)::fsync(fd);
    ::close(fd);
  }

  // Reads every whole, intact record; what follows the first bad one is ignored.
  static recovered_messages replay(const std::filesystem::path& path) {
    recovered_messages out;
    std::string data;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return out;
    char chunk[1 << 16];
    for (;;) {
      const ssize_t n = ::read(fd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      data.append(chunk, static_cast<std::size_t>(n));
    }
    ::close(fd);
    // Live messages in log order: a list, and an index to erase from it.
    std::list<store_record> live;
    std::unordered_map<conversation_key,
                       std::unordered_map<std::uint64_t, std::list<store_record>::iterator>,
                       conversation_key_hash>
        index;
    std::size_t pos = 0;
    while (data.size() - pos >= 8) {
      frame_reader head{std::string_view{data}.substr(pos, 8)};
      const std::uint32_t len = head.u32();
      const std::uint32_t crc = head.u32();
      if (data.size() - pos - 8 < len) break;
      const std::string_view payload = std::string_view{data}.substr(pos + 8, len);
      boost::crc_32_type check;
      check.process_bytes(payload.data(), payload.size());
      if (check.checksum() != crc) break;
      frame_reader r{payload};
      store_record rec;
      rec.kind = static_cast<record_kind>(r.u8());
      rec.to = r.u64();
      rec.from = r.u64();
      rec.msg_id = r.u64();
      rec.lane = r.u8();
      if (rec.kind == record_kind::store) {
        rec.sent_ns = r.u64();
        rec.body = std::string{r.body()};
      }
      if (!r.ok()) break;
      pos += 8 + len;
      const conversation_key conv{rec.from, rec.to, rec.lane};
      auto& hw = out.high_water[conv];
      if (rec.msg_id > hw && rec.kind != record_kind::erase) hw = rec.msg_id;
      if (rec.kind == record_kind::store) {
        live.push_back(std::move(rec));
        index[conv][live.back().msg_id] = std::prev(live.end());
      } else if (rec.kind == record_kind::erase) {
        auto c = index.find(conv);
        if (c == index.end()) continue;
        auto m = c->second.find(rec.msg_id);
        if (m == c->second.end()) continue;
        live.erase(m->second);
        c->second.erase(m);
      }
    }
    out.live.assign(std::make_move_iterator(live.begin()), std::make_move_iterator(live.end()));
    return out;
  }

  void flush_loop() {
    std::unique_lock lock{mutex_};
    for (;;) {
      wake_.wait(lock, [&] { return closed_ || !pending_.empty(); });
      if (pending_.empty() && closed_) return;
      std::string batch;
      batch.swap(pending_);
      std::vector<store_callback> done;
      done.swap(callbacks_);
      const std::uint64_t records = std::exchange(pending_records_, 0);
      const bool broken = broken_;
      lock.unlock();
      bool ok = !broken;
      if (ok) {
        try {
          write_all(fd_, batch);
          checked(::fdatasync(fd_), "fdatasync messages.log");
        } catch (const std::system_error&) {
          ok = false;
        }
      }
      lock.lock();
      if (ok) {  // counted before the callbacks answer anyone
        ++stats_.batches;
        stats_.bytes += batch.size();
      } else {
        broken_ = true;
        stats_.failures += records;
      }
      lock.unlock();
      for (auto& f : done)
        f(ok ? store_result::durable : store_result::failed);
      lock.lock();
    }
  }

  std::filesystem::path dir_;
  int fd_ = -1;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::string pending_;
  std::vector<store_callback> callbacks_;
  std::uint64_t pending_records_ = 0;
  store_stats stats_;
  bool closed_ = false;
  bool broken_ = false;  // a write or fdatasync failed: nothing more is reported durable
  std::thread flusher_;
};

}  // namespace chat
