// scaling/replication/postgres.hpp: a small libpq adapter that feeds a replica_selector from
// real PostgreSQL streaming replicas.
//
// What it is: `scaling::postgres::connection` (an RAII PGconn with one-value queries),
// LSN parsing (`parse_lsn("16/B374D848")`), the position queries the routing needs
// (pg_current_wal_lsn() on the primary, pg_last_wal_replay_lsn() on a standby), the fault and
// failover controls (pg_wal_replay_pause/resume, pg_promote) and `refresh_positions`, which
// reports every member's replay position into a selector so it routes on LSNs (the time-based
// lag columns go stale when replay stops; LSNs don't).
//
// When to pick it: when the replicas are PostgreSQL. This header needs libpq (Debian:
// libpq-dev; CMake: find_package(PostgreSQL), target PostgreSQL::PostgreSQL); nothing else in
// the library does, and scaling/replication.hpp does not include it.
//
//   scaling::postgres::connection primary{"host=10.0.0.1 dbname=app"};
//   primary.execute("UPDATE users SET name = 'x' WHERE id = 42");
//   session.record_write(reads.token(scaling::postgres::current_wal_lsn(primary)));
//   scaling::postgres::refresh_positions(reads, primary, {{"replica-1", &replica1}});
//   auto ticket = reads.select(session);   // a standby that replayed the write, or the primary
//
// Thread safety: a connection is used by one thread at a time (libpq's rule).
// Complexity: one round trip per query.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <libpq-fe.h>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <scaling/core/error.hpp>
#include <scaling/replication/replica.hpp>

namespace scaling::postgres {

// A failed connection or query; what() carries libpq's message.
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses a pg_lsn text ("XXXXXXXX/YYYYYYYY", hex) into a 64-bit position.
// Throws scaling::invalid_argument for anything else.
[[nodiscard]] inline log_position parse_lsn(std::string_view text) {
  const auto slash = text.find('/');
  auto hex = [&](std::string_view part) {
    if (part.empty() || part.size() > 8) {
      detail::throw_invalid_argument("scaling::postgres::parse_lsn", "text",
                                     "must look like X/Y with 1-8 hex digits each", text);
    }
    std::uint64_t v = 0;
    for (const char c : part) {
      std::uint64_t digit = 0;
      if (c >= '0' && c <= '9') {
        digit = static_cast<std::uint64_t>(c - '0');
      } else if (c >= 'A' && c <= 'F') {
        digit = static_cast<std::uint64_t>(c - 'A' + 10);
      } else if (c >= 'a' && c <= 'f') {
        digit = static_cast<std::uint64_t>(c - 'a' + 10);
      } else {
        detail::throw_invalid_argument("scaling::postgres::parse_lsn", "text",
                                       "must contain hex digits only", text);
      }
      v = v * 16 + digit;
    }
    return v;
  };
  if (slash == std::string_view::npos) {
    detail::throw_invalid_argument("scaling::postgres::parse_lsn", "text",
                                   "must look like X/Y (no '/')", text);
  }
  return (hex(text.substr(0, slash)) << 32) | hex(text.substr(slash + 1));
}

// Formats a position as PostgreSQL prints an LSN.
[[nodiscard]] inline std::string format_lsn(log_position lsn) {
  char buffer[24];
  std::snprintf(buffer, sizeof buffer, "%X/%X", static_cast<unsigned>(lsn >> 32),
                static_cast<unsigned>(lsn & 0xffffffffu));
  return buffer;
}

// One libpq connection. Move-only.
class connection {
 public:
  // Connects with a libpq conninfo string. Throws postgres::error when it fails.
  explicit connection(const std::string& conninfo) : conn_(PQconnectdb(conninfo.c_str())) {
    if (conn_ == nullptr || PQstatus(conn_.get()) != CONNECTION_OK) {
      throw error("scaling::postgres::connection: cannot connect (" + conninfo +
                  "): " + (conn_ ? PQerrorMessage(conn_.get()) : "out of memory"));
    }
  }

  // Runs `sql` (one or more statements); returns the first column of the first row of the last
  // result, or nullopt when it has no rows or the value is NULL. Throws postgres::error.
  std::optional<std::string> query_value(const std::string& sql) {
    result r{PQexec(conn_.get(), sql.c_str())};
    const auto status = PQresultStatus(r.get());
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
      throw error("scaling::postgres: query failed (" + sql + "): " + PQerrorMessage(conn_.get()));
    }
    if (status != PGRES_TUPLES_OK || PQntuples(r.get()) == 0 || PQnfields(r.get()) == 0 ||
        PQgetisnull(r.get(), 0, 0)) {
      return std::nullopt;
    }
    return std::string{PQgetvalue(r.get(), 0, 0)};
  }

  // Runs `sql` for its effect. Throws postgres::error.
  void execute(const std::string& sql) { (void)query_value(sql); }

  [[nodiscard]] PGconn* native() const noexcept { return conn_.get(); }

 private:
  struct conn_closer {
    void operator()(PGconn* c) const noexcept { PQfinish(c); }
  };
  struct result_clearer {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
  };
  using result = std::unique_ptr<PGresult, result_clearer>;
  std::unique_ptr<PGconn, conn_closer> conn_;
};

// The primary's current WAL position: take it after COMMIT as a read-your-writes token.
[[nodiscard]] inline log_position current_wal_lsn(connection& primary) {
  const auto v = primary.query_value("SELECT pg_current_wal_lsn()");
  if (!v) throw error("scaling::postgres: pg_current_wal_lsn() returned NULL");
  return parse_lsn(*v);
}

// The last WAL position a standby has replayed (nullopt on a primary).
[[nodiscard]] inline std::optional<log_position> last_replay_lsn(connection& standby) {
  const auto v = standby.query_value("SELECT pg_last_wal_replay_lsn()");
  if (!v) return std::nullopt;
  return parse_lsn(*v);
}

[[nodiscard]] inline bool in_recovery(connection& c) {
  return c.query_value("SELECT pg_is_in_recovery()") == std::optional<std::string>{"t"};
}

// Stops replay on a standby (it keeps serving, increasingly stale) and waits until it has
// actually paused; resume_replay undoes it. Throws postgres::error.
inline void pause_replay(connection& standby) {
  standby.execute("SELECT pg_wal_replay_pause()");
  for (int i = 0; i < 1000; ++i) {
    if (standby.query_value("SELECT pg_get_wal_replay_pause_state()") ==
        std::optional<std::string>{"paused"}) {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }
  throw error("scaling::postgres: replay did not pause within 5 s");
}
inline void resume_replay(connection& standby) {
  standby.execute("SELECT pg_wal_replay_resume()");
}

// Promotes a standby to primary and waits (up to 60 s, PostgreSQL's default) for it to finish.
// Throws postgres::error when promotion fails or times out.
inline void promote(connection& standby) {
  if (standby.query_value("SELECT pg_promote(true, 60)") != std::optional<std::string>{"t"}) {
    throw error("scaling::postgres: pg_promote() did not complete");
  }
}

// Waits until `standby` has replayed `lsn`, polling every millisecond, for at most `timeout`.
// Returns whether it got there.
inline bool wait_for_replay(connection& standby, log_position lsn,
                            std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  do {
    const auto replayed = last_replay_lsn(standby);
    if (replayed && *replayed >= lsn) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

// A standby as refresh_positions sees it: the selector's id for it and an open connection.
struct standby_link {
  std::string id;
  connection* link = nullptr;
};

// Reads pg_current_wal_lsn() on the primary and pg_last_wal_replay_lsn() on each standby and
// reports them to `selector` (report_primary_position / report_replication), so lag in
// positions is in bytes of WAL. A standby that cannot be queried is marked down; one that
// answers is marked up. Returns the primary's position.
template <class Selector>
log_position refresh_positions(Selector& selector, connection& primary,
                               const std::vector<standby_link>& standbys) {
  const log_position head = current_wal_lsn(primary);
  selector.report_primary_position(head);
  for (const auto& s : standbys) {
    try {
      const auto replayed = last_replay_lsn(*s.link);
      selector.report_replication(s.id, replayed.value_or(0));
      selector.mark(s.id, replica_health::up);
    } catch (const error&) {
      selector.mark(s.id, replica_health::down);
    }
  }
  return head;
}

}  // namespace scaling::postgres
