// scaling/replication/postgres_shards.hpp: Instagram-style logical shards on real PostgreSQL:
// per-schema id functions, a user id -> shard -> instance router with pooled connections, and
// a live move of one logical shard to another instance.
//
// What it is:
//   next_id_function_sql(layout, schema, shard)  the PL/pgSQL `<schema>.next_id()` Instagram
//        published (41 bits of ms since 1314220021721, 13 bits of shard, 10 of a sequence for
//        instagram_layout), generated for any sharded_id_layout; it uses `%` (the published
//        `%%` is accepted by CREATE FUNCTION on PostgreSQL 15 and fails at call time).
//   postgres::shard_router  maps user id -> logical shard (user_id % shard_count) -> instance
//        (starting from a logical_shards placement), lends a pooled connection per instance,
//        decodes ids back to their shard, and moves a shard live (move_shard).
//   move_shard  copies one logical shard's schema to a target instance with logical
//        replication (PUBLICATION ... FOR TABLES IN SCHEMA, PostgreSQL 15) while writes go on,
//        then pauses that shard's writes, waits until every table's row count and checksum
//        match, carries the sequences over, switches the route and drops the old copy.
//
// When to pick it: a PostgreSQL fleet sharded by user id, as Instagram ran (thousands of
// schemas on a dozen primaries). Needs libpq and, on the instances a shard moves from,
// wal_level = logical. For the placement alone (no database) use logical_shards.
//
//   scaling::logical_shards<std::string> placement{512, {"pg-a", "pg-b"}};
//   scaling::postgres::shard_router router{placement, {{"pg-a", "host=a"}, {"pg-b", "host=b"}}};
//   router.with_user(user_id, [&](scaling::postgres::connection& c, const std::string& schema) {
//     c.execute("INSERT INTO " + schema + ".photos (user_id) VALUES (" + uid + ")");
//   });
//   auto report = router.move_shard(17, {"pg-c", "host=c"}, schema_ddl);
//
// Ids: an id names its shard, so `shard_for_id` routes a photo id with no lookup. Within one
// shard, ids must come from one issuer (the schema's sequence, or one sharded_id_generator):
// two issuers for one shard can produce the same id in the same millisecond.
//
// Failure modes: an unknown shard or an id whose shard or time does not fit (an id of another
// layout) throws scaling::invalid_argument and is counted; a move that cannot catch up within
// its timeout is rolled back (the route never changes) and throws postgres::error; a write
// during the switch-over waits for it (the pause is reported).
//
// Thread safety: with_user/with_shard/with_instance, the lookups and stats may run
// concurrently from any thread (each call borrows its own connection); move_shard may run
// concurrently with them (one move at a time).
// Complexity: routing O(1); a move is a schema copy plus one catch-up wait.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <scaling/core/error.hpp>
#include <scaling/replication/postgres.hpp>
#include <scaling/sharding/logical_shards.hpp>
#include <scaling/sharding/sharded_id.hpp>

namespace scaling::postgres {

namespace detail {
inline void check_identifier(std::string_view component, std::string_view what,
                             std::string_view name) {
  const bool ok = !name.empty() && name.size() < 64 &&
                  std::all_of(name.begin(), name.end(),
                              [](char c) {
                                return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
                              }) &&
                  !(name.front() >= '0' && name.front() <= '9');
  if (!ok) {
    scaling::detail::throw_invalid_argument(
        component, what, "must be a lower-case SQL identifier ([a-z_][a-z0-9_]*, < 64 chars)",
        name);
  }
}
inline std::string quote_literal(std::string_view text) {
  std::string out{"'"};
  for (const char c : text) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}
}  // namespace detail

// The schema that holds logical shard `shard`: "shard_0042".
[[nodiscard]] inline std::string shard_schema_name(std::uint32_t shard) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "shard_%04u", shard);
  return buffer;
}

// SQL that creates `<schema>.id_seq` and `<schema>.next_id()`, Instagram's id function for
// `layout`: (ms since layout.epoch_ms) << (shard_bits + sequence_bits) | shard << sequence_bits
// | nextval(id_seq) % 2^sequence_bits. Run it after CREATE SCHEMA.
// Throws scaling::invalid_argument for a schema that is not a plain identifier, a shard that
// does not fit the layout or a layout whose ids do not fit a bigint.
[[nodiscard]] inline std::string next_id_function_sql(const sharded_id_layout& layout,
                                                      std::string_view schema,
                                                      std::uint32_t shard) {
  constexpr std::string_view component = "scaling::postgres::next_id_function_sql";
  detail::check_identifier(component, "schema", schema);
  scaling::detail::check_layout(layout);
  if (layout.time_bits + layout.shard_bits + layout.sequence_bits > 64) {
    scaling::detail::throw_invalid_argument(component, "layout", "must fit 64 bits",
                                            layout.time_bits);
  }
  if (shard > scaling::detail::low_mask(layout.shard_bits)) {
    scaling::detail::throw_invalid_argument(component, "shard", "must fit the layout's shard bits",
                                            shard);
  }
  const std::string s{schema};
  const auto sequence_modulus = std::uint64_t{1} << layout.sequence_bits;
  return "CREATE SEQUENCE " + s + ".id_seq;\n" + "CREATE OR REPLACE FUNCTION " + s +
         ".next_id(OUT result bigint) AS $$\n"
         "DECLARE\n"
         "  our_epoch bigint := " +
         std::to_string(layout.epoch_ms) +
         ";\n"
         "  seq_id bigint;\n"
         "  now_millis bigint;\n"
         "  shard_id int := " +
         std::to_string(shard) +
         ";\n"
         "BEGIN\n"
         "  SELECT nextval('" +
         s + ".id_seq') % " + std::to_string(sequence_modulus) +
         " INTO seq_id;\n"
         "  SELECT FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000) INTO now_millis;\n"
         "  result := (now_millis - our_epoch) << " +
         std::to_string(layout.shard_bits + layout.sequence_bits) +
         ";\n"
         "  result := result | (shard_id::bigint << " +
         std::to_string(layout.sequence_bits) +
         ");\n"
         "  result := result | (seq_id);\n"
         "END;\n"
         "$$ LANGUAGE PLPGSQL;\n";
}

// One PostgreSQL instance of the fleet: a name (the placement's node) and its libpq conninfo.
struct shard_instance {
  std::string name;
  std::string conninfo;
};

struct shard_router_options {
  std::size_t connections_per_instance = 4;  // the pool size per instance (>= 1)
  sharded_id_layout layout = instagram_layout;
  // An id stamped later than now + this is rejected by shard_for_id (it is not of this layout).
  std::chrono::milliseconds future_tolerance = std::chrono::minutes{1};
};

struct shard_router_stats {
  std::uint64_t routed = 0;         // calls that ran against a shard
  std::uint64_t unknown_shard = 0;  // rejected: shard >= shard_count
  std::uint64_t foreign_ids = 0;    // rejected ids (shard or time out of range)
  std::uint64_t moves = 0;
  std::uint64_t failed_moves = 0;
};

// What move_shard did. Durations are wall-clock.
struct shard_move_report {
  std::uint32_t shard = 0;
  std::string from;
  std::string to;
  std::uint64_t rows = 0;             // rows on the target at the switch (equal on both sides)
  std::string checksum;               // per-table count:sum-of-row-hashes, equal on both sides
  std::chrono::milliseconds copy{0};  // initial copy (CREATE SUBSCRIPTION to synced)
  std::chrono::milliseconds write_pause{0};  // the shard's writes waited this long
  std::chrono::milliseconds total{0};
};

enum class old_copy : std::uint8_t { drop, keep };

// Returns the SQL that creates a shard's tables in `schema` (which exists, with next_id()).
using shard_schema_ddl = std::function<std::string(std::uint32_t shard, const std::string& schema)>;

class shard_router {
 public:
  // Routes `placement.shard_count()` logical shards as `placement` places them; every node of
  // the placement needs an instance. Connections open lazily.
  // Throws scaling::invalid_argument for a node without an instance, a duplicate instance name
  // or connections_per_instance 0.
  shard_router(const logical_shards<std::string>& placement, std::vector<shard_instance> instances,
               shard_router_options options = {})
      : options_(options) {
    if (options_.connections_per_instance == 0) {
      scaling::detail::throw_invalid_argument(component, "connections_per_instance", "must be >= 1",
                                              0);
    }
    for (auto& instance : instances) {
      if (find_pool(instance.name) != nullptr) {
        scaling::detail::throw_invalid_argument(component, "instances", "must not repeat a name",
                                                instance.name);
      }
      pools_.push_back(
          std::make_unique<pool>(std::move(instance), options_.connections_per_instance));
    }
    gates_.reserve(placement.shard_count());
    for (std::uint32_t s = 0; s < placement.shard_count(); ++s) {
      const std::string& node = placement.node_for_shard(s);
      pool* p = find_pool(node);
      if (p == nullptr) {
        scaling::detail::throw_invalid_argument(component, "instances",
                                                "must include every placement node", node);
      }
      gates_.push_back(std::make_unique<gate>());
      gates_.back()->owner = p;
    }
  }

  shard_router(const shard_router&) = delete;
  shard_router& operator=(const shard_router&) = delete;

  [[nodiscard]] std::uint32_t shard_count() const noexcept {
    return static_cast<std::uint32_t>(gates_.size());
  }

  // Instagram's rule: logical shard = user id % shard_count.
  [[nodiscard]] std::uint32_t shard_for_user(std::uint64_t user_id) const noexcept {
    return static_cast<std::uint32_t>(user_id % gates_.size());
  }

  // The shard an id was made in. Throws scaling::invalid_argument (and counts it) when the
  // shard does not exist or the id's time is after now + future_tolerance: an id of another
  // layout, or garbage. The check is best effort: a foreign id can still decode plausibly.
  [[nodiscard]] std::uint32_t shard_for_id(std::uint64_t id) {
    const decoded_id d = decode(options_.layout, id);
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    if (d.shard >= gates_.size() || id == 0 ||
        d.unix_ms > now_ms + options_.future_tolerance.count()) {
      foreign_ids_.fetch_add(1, std::memory_order_relaxed);
      scaling::detail::throw_invalid_argument(
          component, "id", "must decode to an existing shard and a past time in the layout", id);
    }
    return static_cast<std::uint32_t>(d.shard);
  }

  // The instance that holds `shard` now. Throws scaling::invalid_argument for an unknown shard.
  [[nodiscard]] std::string instance_for(std::uint32_t shard) {
    check_shard(shard);
    std::scoped_lock lock{gates_[shard]->mutex};
    return gates_[shard]->owner->instance.name;
  }

  [[nodiscard]] std::string schema_for(std::uint32_t shard) {
    check_shard(shard);
    return shard_schema_name(shard);
  }

  // Runs f(connection&, schema) for `shard` on a pooled connection of its instance, and
  // returns what f returns. A move's switch-over waits for running calls and holds new ones.
  // Throws scaling::invalid_argument for an unknown shard; postgres::error when connecting
  // fails; whatever f throws (a connection left broken is closed, not pooled).
  template <class F>
  decltype(auto) with_shard(std::uint32_t shard, F&& f) {
    check_shard(shard);
    passage in{*gates_[shard]};
    routed_.fetch_add(1, std::memory_order_relaxed);
    const std::string schema = shard_schema_name(shard);
    lease l{*in.owner()};
    return std::forward<F>(f)(l.get(), schema);
  }
  template <class F>
  decltype(auto) with_user(std::uint64_t user_id, F&& f) {
    return with_shard(shard_for_user(user_id), std::forward<F>(f));
  }
  // Runs f(connection&) on a pooled connection of a named instance (set-up, reports).
  // Throws scaling::invalid_argument for an unknown name.
  template <class F>
  decltype(auto) with_instance(std::string_view name, F&& f) {
    pool* p = nullptr;
    {
      std::scoped_lock lock{pools_mutex_};
      p = find_pool(name);
    }
    if (p == nullptr) {
      scaling::detail::throw_invalid_argument(component, "instance", "must be a known instance",
                                              name);
    }
    lease l{*p};
    return std::forward<F>(f)(l.get());
  }

  // Creates every shard's schema where it lives: CREATE SCHEMA, the id sequence and next_id(),
  // then schema_ddl(shard, schema); one batch (one round trip, one transaction) per instance.
  // Throws postgres::error when a batch fails.
  void create_shard_schemas(const shard_schema_ddl& schema_ddl) {
    std::vector<std::pair<pool*, std::string>> batches;
    for (std::uint32_t shard = 0; shard < shard_count(); ++shard) {
      pool* owner = nullptr;
      {
        std::scoped_lock lock{gates_[shard]->mutex};
        owner = gates_[shard]->owner;
      }
      auto it = std::find_if(batches.begin(), batches.end(),
                             [&](const auto& b) { return b.first == owner; });
      if (it == batches.end()) it = batches.insert(batches.end(), {owner, std::string{}});
      const std::string schema = shard_schema_name(shard);
      it->second += "CREATE SCHEMA " + schema + ";\n" +
                    next_id_function_sql(options_.layout, schema, shard) +
                    schema_ddl(shard, schema) + ";\n";
    }
    for (auto& [owner, sql] : batches) {
      lease l{*owner};
      l.get().execute(sql);
    }
  }

  // Moves `shard` to `target` while writes continue. `schema_ddl(shard, schema)` returns the
  // SQL that creates the schema's tables on the target (tables only: the schema, its id
  // sequence and next_id() are created here); the copy is done by logical replication from
  // the current instance, which needs wal_level = logical and must accept replication
  // connections from the target with its conninfo. After the initial copy the shard's writes
  // are paused, the move waits (up to `catch_up_timeout`) until every table's count and
  // checksum match, copies the sequences' positions, switches the route and, with
  // old_copy::drop, drops the schema at the source.
  // Throws scaling::invalid_argument for an unknown shard or a target that already holds it;
  // postgres::error when a step fails or catching up times out (the route is unchanged and
  // the target's partial copy is removed).
  shard_move_report move_shard(std::uint32_t shard, const shard_instance& target,
                               const shard_schema_ddl& schema_ddl, old_copy after = old_copy::drop,
                               std::chrono::milliseconds catch_up_timeout = std::chrono::seconds{
                                   30}) {
    check_shard(shard);
    std::scoped_lock one_move{move_mutex_};
    const auto started = std::chrono::steady_clock::now();
    gate& g = *gates_[shard];
    pool* from = nullptr;
    {
      std::scoped_lock lock{g.mutex};
      from = g.owner;
    }
    pool* to = nullptr;
    {
      std::scoped_lock lock{pools_mutex_};
      to = find_pool(target.name);
      if (to == nullptr) {
        pools_.push_back(std::make_unique<pool>(target, options_.connections_per_instance));
        to = pools_.back().get();
      }
    }
    if (to == from) {
      scaling::detail::throw_invalid_argument(
          component, "target", "must not be the shard's current instance", target.name);
    }
    const std::string schema = shard_schema_name(shard);
    const std::string link = "scaling_move_" + schema;
    shard_move_report report;
    report.shard = shard;
    report.from = from->instance.name;
    report.to = to->instance.name;
    connection source{from->instance.conninfo};
    connection sink{to->instance.conninfo};
    auto roll_back = [&] {
      try {
        sink.execute("DROP SUBSCRIPTION IF EXISTS " + link);
      } catch (const error&) {
      }
      try {
        sink.execute("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
        source.execute("DROP PUBLICATION IF EXISTS " + link);
      } catch (const error&) {
      }
    };
    try {
      // The slot and cascade NOTICEs would go to stderr through libpq's default processor.
      source.execute("SET client_min_messages = warning");
      sink.execute("SET client_min_messages = warning");
      sink.execute("CREATE SCHEMA " + schema);
      sink.execute(next_id_function_sql(options_.layout, schema, shard));
      sink.execute(schema_ddl(shard, schema));
      source.execute("CREATE PUBLICATION " + link + " FOR TABLES IN SCHEMA " + schema);
      sink.execute("CREATE SUBSCRIPTION " + link + " CONNECTION " +
                   detail::quote_literal(from->instance.conninfo) + " PUBLICATION " + link);
      const auto copy_deadline = std::chrono::steady_clock::now() + catch_up_timeout;
      while (sink.query_value("SELECT count(*) FROM pg_subscription_rel r JOIN pg_subscription s "
                              "ON s.oid = r.srsubid WHERE s.subname = '" +
                              link + "' AND r.srsubstate <> 'r'") !=
             std::optional<std::string>{"0"}) {
        if (std::chrono::steady_clock::now() > copy_deadline) {
          throw error("scaling::postgres::shard_router::move_shard: initial copy of " + schema +
                      " did not finish in time");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds{5});
      }
      report.copy = since(started);
      {
        // Switch-over: no call runs on this shard until the route changes (new calls wait
        // at the gate, running ones finish first).
        const auto paused = std::chrono::steady_clock::now();
        closed_gate pause{g};
        const auto deadline = paused + catch_up_timeout;
        for (;;) {
          const std::string want = checksum(source, schema);
          const std::string got = checksum(sink, schema);
          if (want == got) {
            report.checksum = got;
            break;
          }
          if (std::chrono::steady_clock::now() > deadline) {
            throw error("scaling::postgres::shard_router::move_shard: " + schema +
                        " did not catch up (" + want + " vs " + got + ")");
          }
          std::this_thread::sleep_for(std::chrono::milliseconds{2});
        }
        copy_sequences(source, sink, schema);
        pause.reopen_to(to);
        report.write_pause = since(paused);
      }
    } catch (...) {
      failed_moves_.fetch_add(1, std::memory_order_relaxed);
      roll_back();
      throw;
    }
    sink.execute("DROP SUBSCRIPTION " + link);
    source.execute("DROP PUBLICATION " + link);
    if (after == old_copy::drop) source.execute("DROP SCHEMA " + schema + " CASCADE");
    report.rows = rows_in(report.checksum);
    report.total = since(started);
    moves_.fetch_add(1, std::memory_order_relaxed);
    return report;
  }

  // Every table of `schema` as "table=count:sum;" (sum of hashtextextended over each row's
  // text), in table order: equal strings mean equal contents, with overwhelming probability.
  // Throws postgres::error; scaling::invalid_argument for a schema that is not an identifier.
  [[nodiscard]] static std::string checksum(connection& c, const std::string& schema) {
    detail::check_identifier(component, "schema", schema);
    const auto tables = c.query_value(
        "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables "
        "WHERE table_schema = '" +
        schema + "' AND table_type = 'BASE TABLE'");
    std::string out;
    for (const std::string& table : split(tables.value_or(""))) {
      out += table + "=" +
             c.query_value(
                  "SELECT count(*)::text || ':' || "
                  "coalesce(sum(hashtextextended(x::text, 0)), 0)::text FROM " +
                  schema + "." + table + " x")
                 .value_or("") +
             ";";
    }
    return out;
  }

  [[nodiscard]] shard_router_stats stats() const {
    shard_router_stats s;
    s.routed = routed_.load(std::memory_order_relaxed);
    s.unknown_shard = unknown_shard_.load(std::memory_order_relaxed);
    s.foreign_ids = foreign_ids_.load(std::memory_order_relaxed);
    s.moves = moves_.load(std::memory_order_relaxed);
    s.failed_moves = failed_moves_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  static constexpr std::string_view component = "scaling::postgres::shard_router";

  struct pool;

  // Admission to one shard: calls pass while it is open; a move closes it, waits for the calls
  // inside to leave, and reopens it (possibly on another instance). New calls queue behind a
  // closing move, so a steady stream of calls cannot starve it.
  struct gate {
    std::mutex mutex;
    std::condition_variable changed;
    std::size_t inside = 0;
    bool closed = false;
    pool* owner = nullptr;
  };
  class passage {
   public:
    explicit passage(gate& g) : gate_(g) {
      std::unique_lock lock{g.mutex};
      g.changed.wait(lock, [&] { return !g.closed; });
      ++g.inside;
      owner_ = g.owner;
    }
    passage(const passage&) = delete;
    passage& operator=(const passage&) = delete;
    ~passage() {
      std::scoped_lock lock{gate_.mutex};
      if (--gate_.inside == 0) gate_.changed.notify_all();
    }
    [[nodiscard]] pool* owner() const noexcept { return owner_; }

   private:
    gate& gate_;
    pool* owner_ = nullptr;
  };
  class closed_gate {
   public:
    explicit closed_gate(gate& g) : gate_(g) {
      std::unique_lock lock{g.mutex};
      g.closed = true;
      g.changed.wait(lock, [&] { return g.inside == 0; });
    }
    closed_gate(const closed_gate&) = delete;
    closed_gate& operator=(const closed_gate&) = delete;
    void reopen_to(pool* owner) {
      std::scoped_lock lock{gate_.mutex};
      gate_.owner = owner;
    }
    ~closed_gate() {
      std::scoped_lock lock{gate_.mutex};
      gate_.closed = false;
      gate_.changed.notify_all();
    }

   private:
    gate& gate_;
  };

  struct pool {
    pool(shard_instance i, std::size_t size) : instance(std::move(i)), capacity(size) {}
    shard_instance instance;
    std::size_t capacity;
    std::mutex mutex;
    std::condition_variable returned;
    std::vector<std::unique_ptr<connection>> idle;
    std::size_t open = 0;
  };

  // A borrowed connection; goes back to the pool unless libpq reports it broken.
  class lease {
   public:
    explicit lease(pool& p) : pool_(p) {
      std::unique_lock lock{p.mutex};
      p.returned.wait(lock, [&] { return !p.idle.empty() || p.open < p.capacity; });
      if (!p.idle.empty()) {
        conn_ = std::move(p.idle.back());
        p.idle.pop_back();
        return;
      }
      ++p.open;
      lock.unlock();
      try {
        conn_ = std::make_unique<connection>(p.instance.conninfo);
      } catch (...) {
        std::scoped_lock relock{p.mutex};
        --p.open;
        p.returned.notify_one();
        throw;
      }
    }
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    ~lease() {
      std::scoped_lock lock{pool_.mutex};
      if (PQstatus(conn_->native()) == CONNECTION_OK) {
        pool_.idle.push_back(std::move(conn_));
      } else {
        --pool_.open;
      }
      pool_.returned.notify_one();
    }
    [[nodiscard]] connection& get() noexcept { return *conn_; }

   private:
    pool& pool_;
    std::unique_ptr<connection> conn_;
  };

  void check_shard(std::uint32_t shard) {
    if (shard >= gates_.size()) {
      unknown_shard_.fetch_add(1, std::memory_order_relaxed);
      scaling::detail::throw_invalid_argument(component, "shard", "must be < shard_count()", shard);
    }
  }

  [[nodiscard]] pool* find_pool(std::string_view name) const {
    for (const auto& p : pools_)
      if (p->instance.name == name) return p.get();
    return nullptr;
  }

  static std::chrono::milliseconds since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 t);
  }

  static std::vector<std::string> split(const std::string& list) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < list.size()) {
      const auto comma = list.find(',', start);
      out.push_back(
          list.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    return out;
  }

  static void copy_sequences(connection& source, connection& sink, const std::string& schema) {
    const auto names = source.query_value(
        "SELECT string_agg(sequencename, ',') FROM pg_sequences WHERE schemaname = '" + schema +
        "'");
    for (const std::string& seq : split(names.value_or(""))) {
      const auto last = source.query_value("SELECT last_value FROM " + schema + "." + seq);
      if (last) sink.execute("SELECT setval('" + schema + "." + seq + "', " + *last + ", true)");
    }
  }

  static std::uint64_t rows_in(const std::string& checksum_text) {
    std::uint64_t rows = 0;
    std::size_t at = 0;
    while ((at = checksum_text.find('=', at)) != std::string::npos) {
      ++at;
      rows += std::stoull(checksum_text.substr(at, checksum_text.find(':', at) - at));
    }
    return rows;
  }

  shard_router_options options_;
  mutable std::mutex pools_mutex_;
  std::vector<std::unique_ptr<pool>> pools_;
  std::vector<std::unique_ptr<gate>> gates_;
  std::mutex move_mutex_;
  std::atomic<std::uint64_t> routed_{0};
  std::atomic<std::uint64_t> unknown_shard_{0};
  std::atomic<std::uint64_t> foreign_ids_{0};
  std::atomic<std::uint64_t> moves_{0};
  std::atomic<std::uint64_t> failed_moves_{0};
};

}  // namespace scaling::postgres
