// scaling/architecture/postgres_roles.hpp: real PostgreSQL in the composition layer's roles,
// through the libpq adapter (replication/postgres.hpp).
//
// What it is: a key-value table on a PostgreSQL primary and its streaming standbys, playing
//   - `async_read_source` (`postgres_reads`): a read picks a member with the application's
//     `replica_selector` (any policy), asking for one that replayed `min_position` (an LSN), so
//     a `read_through` cache in front of it gets read-your-writes exactly as in the lab; the
//     ticket is completed with the outcome and the latency the selector learns from;
//   - `async_write_target` (`postgres_writes`): an upsert on the primary, acknowledged with
//     pg_current_wal_lsn() after its commit, the position a reader passes on.
// Both answer inside the call (libpq is synchronous here), so the compositions that take the
// roles (read_through, and whatever else takes an async_read_source or async_write_target) run
// on PostgreSQL unchanged. Keys and values are text; queries are parameterised.
//
// When to pick it: to run a composition's data tier on PostgreSQL, in an application or an
// integration test. It needs libpq (Debian: libpq-dev; CMake: PostgreSQL::PostgreSQL), as
// replication/postgres.hpp does, and no umbrella header includes it. Before reads, report the
// standbys' replay positions to the selector (postgres::refresh_positions), periodically.
//
//   scaling::postgres::connection primary{"host=db0 dbname=app"}, standby{"host=db1 dbname=app"};
//   scaling::replica_selector<endpoint, scaling::peak_ewma> selector{...};
//   scaling::architecture::postgres_writes writes{primary, "kv"};
//   scaling::architecture::postgres_reads<decltype(selector)> reads{
//       selector, {{"primary", &primary}, {"standby", &standby}}, "kv"};
//   scaling::cache<std::string, std::string> cache{10'000};
//   scaling::architecture::read_through<std::string, std::string, decltype(cache),
//                                       decltype(reads)> profiles{cache, reads};
//
// Thread safety: as libpq's connections: one thread at a time per adapter.
// Errors: a failed query answers reply_status::failed (and completes the ticket with
// read_outcome::failure, so the selector marks the member down after its threshold); the table
// name is checked at construction (letters, digits, underscores).
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <libpq-fe.h>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "scaling/architecture/roles.hpp"
#include "scaling/core/error.hpp"
#include "scaling/replication/consistency.hpp"
#include "scaling/replication/postgres.hpp"

namespace scaling::architecture {

namespace detail {

// A table name safe to splice into SQL: [A-Za-z_][A-Za-z0-9_]*.
inline std::string checked_table(std::string_view who, std::string table) {
  bool ok = !table.empty() && !(table[0] >= '0' && table[0] <= '9');
  for (const char c : table)
    ok = ok &&
         ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_');
  if (!ok)
    scaling::detail::throw_invalid_argument(who, "table", "must be letters, digits and underscores",
                                            table);
  return table;
}

// Runs `sql` with text parameters; the first column of the first row, nullopt for no row.
// Throws postgres::error for a failed query.
inline std::optional<std::string> query_text(postgres::connection& c, const std::string& sql,
                                             std::initializer_list<const char*> params) {
  std::vector<const char*> values(params);
  PGresult* raw = PQexecParams(c.native(), sql.c_str(), static_cast<int>(values.size()), nullptr,
                               values.data(), nullptr, nullptr, 0);
  const std::unique_ptr<PGresult, decltype(&PQclear)> result{raw, &PQclear};
  const auto status = PQresultStatus(result.get());
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)
    throw postgres::error{PQerrorMessage(c.native())};
  if (status == PGRES_COMMAND_OK || PQntuples(result.get()) == 0) return std::nullopt;
  return std::string{PQgetvalue(result.get(), 0, 0)};
}

}  // namespace detail

// Reads of a (k text PRIMARY KEY, v text) table, routed by a replica_selector over the
// primary and its standbys. Selector is a replica_selector whose members' ids name the
// connections given.
template <class Selector>
class postgres_reads {
 public:
  // Throws: scaling::invalid_argument for a bad table name.
  postgres_reads(Selector& selector, std::map<std::string, postgres::connection*> members,
                 std::string table)
      : selector_(&selector),
        members_(std::move(members)),
        sql_("SELECT v FROM " +
             detail::checked_table("scaling::architecture::postgres_reads", std::move(table)) +
             " WHERE k = $1") {}

  void async_read(const std::string& key, std::uint64_t min_position,
                  read_handler<std::string> done) {
    auto ticket = selector_->select(scaling::read_options{.min_position = min_position});
    if (!ticket) {
      done(reply<std::string>{reply_status::failed, std::nullopt, 0});
      return;
    }
    const std::uint8_t tier = ticket.is_primary() ? 0 : 1;
    const auto it = members_.find(std::string(ticket.id()));
    if (it == members_.end() || it->second == nullptr) {
      ticket.complete(read_outcome::failure);
      done(reply<std::string>{reply_status::failed, std::nullopt, tier});
      return;
    }
    std::optional<std::string> value;
    try {
      value = detail::query_text(*it->second, sql_, {key.c_str()});
    } catch (const postgres::error&) {
      ticket.complete(read_outcome::failure);
      done(reply<std::string>{reply_status::failed, std::nullopt, tier});
      return;
    }
    ticket.complete(read_outcome::success);
    if (value)
      done(reply<std::string>{reply_status::ok, std::move(value), tier});
    else
      done(reply<std::string>{reply_status::not_found, std::nullopt, tier});
  }

 private:
  Selector* selector_;
  std::map<std::string, postgres::connection*> members_;
  std::string sql_;
};

// Writes to the same table on the primary: an upsert, acknowledged with the WAL position
// after its commit.
class postgres_writes {
 public:
  // Throws: scaling::invalid_argument for a bad table name.
  postgres_writes(postgres::connection& primary, std::string table)
      : primary_(&primary),
        sql_("INSERT INTO " +
             detail::checked_table("scaling::architecture::postgres_writes", std::move(table)) +
             " (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v") {}

  void async_write(const std::string& key, std::string value, write_handler done) {
    try {
      (void)detail::query_text(*primary_, sql_, {key.c_str(), value.c_str()});
      done(write_ack{reply_status::ok, postgres::current_wal_lsn(*primary_)});
    } catch (const postgres::error&) {
      done(write_ack{reply_status::failed, 0});
    }
  }

 private:
  postgres::connection* primary_;
  std::string sql_;
};

}  // namespace scaling::architecture
