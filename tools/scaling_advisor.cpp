// scaling_advisor: the seed's four questions answered for a workload, from flags or a JSON
// file, for the load given and for 10x and 100x of it.
//
//   scaling_advisor --reads-per-s 300000 --writes-per-s 4600 --keys 150000000 --zipf-s 0.9
//                   --object-bytes 20 --consistency eventual --latency-slo-ms 100
//   scaling_advisor --file workload.json [--format json] [flags that override the file]
//
// Prints the binding constraint (with the number that makes it binding), the stage of the
// progression, the patterns in order with their reasons and trade-offs, and the capacity
// model's figures (scaling/advisor.hpp), then the progression at 10x and 100x; every per-server
// figure is printed with its source. The workload file is a JSON object whose keys are the
// flags' names with '_' for '-' (see --help); unknown keys are errors. Bad input: a message
// naming the field and the value, exit status 2.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json/src.hpp>

#include <scaling/advisor.hpp>

namespace {

namespace adv = scaling::advisor;
namespace json = boost::json;

struct bad_input : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <class T>
[[noreturn]] void reject(const std::string& field, const T& value, const std::string& rule) {
  std::ostringstream out;
  out << "scaling_advisor: " << field << " " << rule << " (got " << value << ")";
  throw bad_input(out.str());
}

// Every input, as given: unset fields keep the file's value or the default.
struct inputs {
  std::optional<double> reads_per_s, writes_per_s, keys, zipf_s, object_bytes, data_bytes,
      monthly_growth, max_staleness_s, latency_slo_ms, regions, target_hit_ratio,
      utilization_target, fill_target, horizon_months, burst_multiple, burst_s, drain_target_s,
      read_node_rate, write_node_rate, cache_node_rate, cache_node_memory, db_node_storage,
      node_network, consumer_rate, entry_overhead, db_workers, current_shards;
  std::optional<std::string> consistency, complexity, content, cache_policy, hit_curve_file,
      scaling_points, as_of;
  std::optional<std::vector<adv::hit_ratio_point>> hit_curve;
  std::optional<std::vector<adv::usl_point>> scaling_point_list;
};

// The numeric fields by name, shared by the flags and the file.
std::map<std::string, std::optional<double> inputs::*> numeric_fields() {
  return {{"reads_per_s", &inputs::reads_per_s},
          {"writes_per_s", &inputs::writes_per_s},
          {"keys", &inputs::keys},
          {"zipf_s", &inputs::zipf_s},
          {"object_bytes", &inputs::object_bytes},
          {"data_bytes", &inputs::data_bytes},
          {"monthly_growth", &inputs::monthly_growth},
          {"max_staleness_s", &inputs::max_staleness_s},
          {"latency_slo_ms", &inputs::latency_slo_ms},
          {"regions", &inputs::regions},
          {"target_hit_ratio", &inputs::target_hit_ratio},
          {"utilization_target", &inputs::utilization_target},
          {"fill_target", &inputs::fill_target},
          {"horizon_months", &inputs::horizon_months},
          {"burst_multiple", &inputs::burst_multiple},
          {"burst_s", &inputs::burst_s},
          {"drain_target_s", &inputs::drain_target_s},
          {"read_node_rate", &inputs::read_node_rate},
          {"write_node_rate", &inputs::write_node_rate},
          {"cache_node_rate", &inputs::cache_node_rate},
          {"cache_node_memory", &inputs::cache_node_memory},
          {"db_node_storage", &inputs::db_node_storage},
          {"node_network", &inputs::node_network},
          {"consumer_rate", &inputs::consumer_rate},
          {"entry_overhead", &inputs::entry_overhead},
          {"db_workers", &inputs::db_workers},
          {"current_shards", &inputs::current_shards}};
}
std::map<std::string, std::optional<std::string> inputs::*> text_fields() {
  return {{"consistency", &inputs::consistency},
          {"complexity", &inputs::complexity},
          {"content", &inputs::content},
          {"cache_policy", &inputs::cache_policy},
          {"hit_curve_file", &inputs::hit_curve_file},
          {"as_of", &inputs::as_of}};
}

std::string flag_of(std::string field) {
  for (char& c : field)
    if (c == '_') c = '-';
  return "--" + field;
}

std::string json_text(const json::value& v) {
  return json::serialize(v);
}

// Reads a workload file into `in` (fields already set by flags win).
void read_file(const std::string& path, inputs& in) {
  std::ifstream f(path);
  if (!f) reject("--file", path, "must name a readable file");
  std::stringstream buf;
  buf << f.rdbuf();
  boost::system::error_code ec;
  const json::value doc = json::parse(buf.str(), ec);
  if (ec) reject("--file", path, "must hold valid JSON: " + ec.message());
  if (!doc.is_object()) reject("--file", path, "must hold a JSON object");
  const auto numeric = numeric_fields();
  const auto text = text_fields();
  for (const auto& [key_view, value] : doc.as_object()) {
    const std::string key(key_view);
    if (auto it = numeric.find(key); it != numeric.end()) {
      if (!value.is_number()) reject(key, json_text(value), "must be a number");
      auto& field = in.*(it->second);
      if (!field) field = value.to_number<double>();
    } else if (auto jt = text.find(key); jt != text.end()) {
      if (!value.is_string()) reject(key, json_text(value), "must be a string");
      auto& field = in.*(jt->second);
      if (!field) field = std::string(value.as_string());
    } else if (key == "hit_ratio_curve" || key == "scaling_points") {
      if (!value.is_array()) reject(key, json_text(value), "must be an array of [x, y] pairs");
      std::vector<std::pair<double, double>> pairs;
      for (const auto& p : value.as_array()) {
        if (!p.is_array() || p.as_array().size() != 2 || !p.as_array()[0].is_number() ||
            !p.as_array()[1].is_number())
          reject(key, json_text(p), "must hold [x, y] pairs of numbers");
        pairs.emplace_back(p.as_array()[0].to_number<double>(),
                           p.as_array()[1].to_number<double>());
      }
      if (key == "hit_ratio_curve" && !in.hit_curve) {
        in.hit_curve.emplace();
        for (auto [s, h] : pairs)
          in.hit_curve->push_back({s, h});
      } else if (key == "scaling_points" && !in.scaling_point_list && !in.scaling_points) {
        in.scaling_point_list.emplace();
        for (auto [n, x] : pairs)
          in.scaling_point_list->push_back({n, x});
      }
    } else {
      throw bad_input("scaling_advisor: " + path + ": unknown key \"" + key +
                      "\" (known: the flags' names with '_' for '-', and hit_ratio_curve, "
                      "scaling_points)");
    }
  }
}

// A cache_replay CSV (policy,size,requests,hits,hit_ratio in percent): the rows of one policy.
std::vector<adv::hit_ratio_point> read_hit_curve(const std::string& path) {
  std::ifstream f(path);
  if (!f) reject("--hit-curve-file", path, "must name a readable file");
  std::vector<adv::hit_ratio_point> points;
  std::string line, policy;
  std::getline(f, line);
  if (line.rfind("policy,size,requests,hits,hit_ratio", 0) != 0)
    reject("--hit-curve-file", path, "must be cache_replay's CSV output");
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    std::stringstream row(line);
    std::string name, size, requests, hits, ratio;
    std::getline(row, name, ',');
    std::getline(row, size, ',');
    std::getline(row, requests, ',');
    std::getline(row, hits, ',');
    std::getline(row, ratio, ',');
    if (policy.empty()) policy = name;
    if (name != policy) continue;  // the first policy's rows
    try {
      points.push_back({std::stod(size), std::stod(ratio) / 100.0});
    } catch (const std::exception&) {
      reject("--hit-curve-file", line, "has a row that is not policy,size,requests,hits,ratio");
    }
  }
  return points;
}

std::vector<adv::usl_point> parse_points(const std::string& list) {
  std::vector<adv::usl_point> points;
  std::stringstream all(list);
  std::string item;
  while (std::getline(all, item, ',')) {
    const auto colon = item.find(':');
    try {
      if (colon == std::string::npos) throw std::invalid_argument(item);
      points.push_back({std::stod(item.substr(0, colon)), std::stod(item.substr(colon + 1))});
    } catch (const std::exception&) {
      reject("--scaling-points", list, "must be N:THROUGHPUT pairs separated by commas");
    }
  }
  return points;
}

struct built {
  adv::workload w;
  std::optional<std::chrono::sys_days> as_of;
};

built build_workload(const inputs& in) {
  built b;
  adv::workload& w = b.w;
  auto set = [](const std::optional<double>& v, double& field) {
    if (v) field = *v;
  };
  set(in.reads_per_s, w.reads_per_s);
  set(in.writes_per_s, w.writes_per_s);
  if (in.keys) {
    if (!(*in.keys >= 1 && *in.keys <= 9007199254740992.0) || *in.keys != std::floor(*in.keys))
      reject("keys", *in.keys, "must be a whole number in [1, 2^53]");
    w.keys = static_cast<std::uint64_t>(*in.keys);
  }
  if (in.current_shards) {
    if (!(*in.current_shards >= 1 && *in.current_shards <= 1e9) ||
        *in.current_shards != std::floor(*in.current_shards))
      reject("current_shards", *in.current_shards, "must be a whole number >= 1");
    w.current_shards = static_cast<std::size_t>(*in.current_shards);
  }
  set(in.zipf_s, w.zipf_s);
  set(in.object_bytes, w.object_bytes);
  set(in.data_bytes, w.data_bytes);
  set(in.monthly_growth, w.monthly_growth);
  if (in.latency_slo_ms) {
    if (!(*in.latency_slo_ms > 0) || !std::isfinite(*in.latency_slo_ms))
      reject("latency_slo_ms", *in.latency_slo_ms, "must be a finite number > 0");
    w.latency_slo_s = *in.latency_slo_ms / 1e3;
  }
  if (in.regions) {
    if (!(*in.regions >= 1 && *in.regions <= 1000) || *in.regions != std::floor(*in.regions))
      reject("regions", *in.regions, "must be a whole number in [1, 1000]");
    w.regions = static_cast<unsigned>(*in.regions);
  }
  set(in.target_hit_ratio, w.target_hit_ratio);
  set(in.utilization_target, w.utilization_target);
  set(in.fill_target, w.fill_target);
  set(in.horizon_months, w.horizon_months);
  set(in.burst_multiple, w.burst_multiple);
  set(in.burst_s, w.burst_s);
  set(in.drain_target_s, w.drain_target_s);
  if (in.consistency) {
    const auto& c = *in.consistency;
    if (c == "strong")
      w.consistency.level = adv::consistency_level::strong;
    else if (c == "read-your-writes")
      w.consistency.level = adv::consistency_level::read_your_writes;
    else if (c == "bounded")
      w.consistency.level = adv::consistency_level::bounded_staleness;
    else if (c == "eventual")
      w.consistency.level = adv::consistency_level::eventual;
    else
      reject("consistency", c, "must be strong, read-your-writes, bounded or eventual");
  }
  if (in.max_staleness_s) {
    w.consistency.max_staleness_s = *in.max_staleness_s;
    if (!in.consistency) w.consistency.level = adv::consistency_level::bounded_staleness;
  }
  if (w.consistency.level == adv::consistency_level::bounded_staleness && !in.max_staleness_s)
    reject("max_staleness_s", "nothing", "must be given with --consistency bounded");
  if (in.complexity) {
    const auto& c = *in.complexity;
    if (c == "low")
      w.complexity = adv::complexity_budget::low;
    else if (c == "medium")
      w.complexity = adv::complexity_budget::medium;
    else if (c == "high")
      w.complexity = adv::complexity_budget::high;
    else
      reject("complexity", c, "must be low, medium or high");
  }
  if (in.content) {
    if (*in.content == "shared")
      w.content = adv::content_scope::shared;
    else if (*in.content == "per-user")
      w.content = adv::content_scope::per_user;
    else
      reject("content", *in.content, "must be shared or per-user");
  }
  if (in.cache_policy) {
    if (*in.cache_policy == "lru")
      w.cache_policy = adv::cache_policy_model::lru;
    else if (*in.cache_policy == "static-top")
      w.cache_policy = adv::cache_policy_model::static_top;
    else
      reject("cache_policy", *in.cache_policy, "must be lru or static-top");
  }
  std::optional<std::vector<adv::hit_ratio_point>> curve = in.hit_curve;
  if (in.hit_curve_file) curve = read_hit_curve(*in.hit_curve_file);
  if (curve) w.hit_curve = adv::hit_ratio_curve{*curve};
  if (in.scaling_points)
    w.scaling_points = parse_points(*in.scaling_points);
  else if (in.scaling_point_list)
    w.scaling_points = *in.scaling_point_list;
  if (!w.scaling_points.empty()) (void)adv::fit_usl(w.scaling_points);  // names a bad point

  auto node = [](const char* field, const std::optional<double>& v, adv::node_figure& f) {
    if (!v) return;
    if (!(*v > 0) || !std::isfinite(*v)) reject(field, *v, "must be a finite number > 0");
    f = f.with_value(*v);
  };
  node("read_node_rate", in.read_node_rate, w.nodes.read_node);
  node("write_node_rate", in.write_node_rate, w.nodes.write_node);
  node("cache_node_rate", in.cache_node_rate, w.nodes.cache_node);
  node("cache_node_memory", in.cache_node_memory, w.nodes.cache_memory);
  node("db_node_storage", in.db_node_storage, w.nodes.db_storage);
  node("node_network", in.node_network, w.nodes.network);
  node("consumer_rate", in.consumer_rate, w.nodes.consumer);
  node("entry_overhead", in.entry_overhead, w.nodes.entry_overhead);
  node("db_workers", in.db_workers, w.nodes.db_workers);

  if (in.as_of) {
    int y = 0;
    unsigned m = 0, d = 0;
    char tail = 0;
    const auto& s = *in.as_of;
    if (std::sscanf(s.c_str(), "%d-%u-%u%c", &y, &m, &d, &tail) != 3)
      reject("as_of", s, "must be a date YYYY-MM-DD");
    const std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{m},
                                          std::chrono::day{d}};
    if (!ymd.ok()) reject("as_of", s, "must be a valid date YYYY-MM-DD");
    b.as_of = std::chrono::sys_days{ymd};
  }
  try {
    adv::validate(w);
  } catch (const scaling::invalid_argument& e) {
    // "scaling::advisor::workload: FIELD ..." -> "scaling_advisor: FIELD ...".
    std::string what = e.what();
    const auto colon = what.find(": ");
    throw bad_input("scaling_advisor: " + what.substr(colon + 2));
  }
  return b;
}

std::string date_text(std::chrono::sys_days d) {
  const std::chrono::year_month_day ymd{d};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

json::value finite_or_null(double v) {
  if (std::isfinite(v)) return v;
  return nullptr;
}

json::object level_json(const adv::advice_level& l, const adv::workload& w,
                        const std::optional<std::chrono::sys_days>& as_of) {
  const auto& n = l.numbers;
  json::object o;
  o["load_multiple"] = l.load_multiple;
  o["reads_per_s"] = l.reads_per_s;
  o["writes_per_s"] = l.writes_per_s;
  o["stage"] = l.stage;
  o["binding_constraint"] = std::string(adv::to_string(l.binding_constraint));
  o["binding_reason"] = l.binding_reason;
  o["access_pattern"] = std::string(adv::to_string(l.access));
  json::object res;
  for (const auto& r : l.resources)
    res[std::string(adv::to_string(r.what))] = r.ratio;
  o["resource_ratios"] = std::move(res);
  json::array names, details;
  for (const auto& p : l.patterns) {
    names.emplace_back(std::string(adv::to_string(p.what)));
    details.emplace_back(json::object{{"pattern", std::string(adv::to_string(p.what))},
                                      {"page", std::string(adv::page_of(p.what))},
                                      {"reason", p.reason},
                                      {"consistency", p.consistency},
                                      {"failure_modes", p.failure_modes},
                                      {"operations", p.operations}});
  }
  o["patterns"] = std::move(names);
  o["pattern_details"] = std::move(details);
  o["predicted_hit_ratio"] = n.predicted_hit_ratio;
  o["cache_items"] = n.cache_items;
  o["cache_memory_bytes"] = n.cache_memory_bytes;
  o["cache_nodes"] = n.cache_nodes;
  o["cdn_offload"] = n.cdn_offload;
  o["db_reads_per_s"] = n.db_reads_per_s;
  o["replicas"] = n.replicas.servers * w.regions;
  o["replicas_per_region"] = n.replicas_per_region;
  o["replica_utilization"] = n.replicas.utilization;
  o["replica_wait_probability"] = n.replicas.wait_probability;
  o["replica_mean_wait_ms"] = n.replicas.mean_wait * 1e3;
  o["replica_p99_wait_ms"] = n.replicas.p99_wait * 1e3;
  o["replica_p99_response_ms"] = n.replicas.p99_response * 1e3;
  o["shards"] = n.shards;
  o["shards_for_writes"] = n.shards_for_writes;
  o["shards_for_data"] = n.shards_for_data;
  o["data_at_horizon_bytes"] = n.data_at_horizon_bytes;
  o["runway_months"] = finite_or_null(n.layout.months);
  if (as_of && std::isfinite(n.layout.months))
    o["runs_out_on"] = date_text(adv::months_after(*as_of, n.layout.months));
  o["write_load_multiple"] = finite_or_null(n.layout.load_multiple);
  o["current_shards"] = w.current_shards;
  o["current_layout_runway_months"] = finite_or_null(n.current_layout.months);
  if (as_of && std::isfinite(n.current_layout.months))
    o["current_layout_runs_out_on"] = date_text(adv::months_after(*as_of, n.current_layout.months));
  o["current_layout_load_multiple"] = finite_or_null(n.current_layout.load_multiple);
  o["queue_consumers"] = n.queue_consumers;
  o["burst_backlog"] = n.burst_backlog;
  o["burst_backlog_bytes"] = n.burst_backlog_bytes;
  if (n.read_tier_usl)
    o["read_tier_usl"] = json::object{{"sigma", n.read_tier_usl->law.sigma},
                                      {"kappa", n.read_tier_usl->law.kappa},
                                      {"peak", finite_or_null(n.read_tier_usl->law.peak())}};
  json::array notes;
  for (const auto& s : l.notes)
    notes.emplace_back(s);
  o["notes"] = std::move(notes);
  return o;
}

// Whole numbers print as integers (1000000, not 1E6).
void tidy(json::value& v) {
  if (v.is_double()) {
    const double d = v.get_double();
    if (d == std::floor(d) && std::abs(d) < 9007199254740992.0) v = static_cast<std::int64_t>(d);
  } else if (v.is_array()) {
    for (auto& x : v.get_array())
      tidy(x);
  } else if (v.is_object()) {
    for (auto& kv : v.get_object())
      tidy(kv.value());
  }
}

void print_json(const adv::advice& a, const adv::workload& w,
                const std::optional<std::chrono::sys_days>& as_of) {
  json::object root;
  root["workload"] =
      json::object{{"reads_per_s", w.reads_per_s},
                   {"writes_per_s", w.writes_per_s},
                   {"keys", w.keys},
                   {"zipf_s", w.zipf_s},
                   {"object_bytes", w.object_bytes},
                   {"content", std::string(adv::to_string(w.content))},
                   {"data_bytes", w.data_bytes},
                   {"monthly_growth", w.monthly_growth},
                   {"consistency", std::string(adv::to_string(w.consistency.level))},
                   {"latency_slo_ms", w.latency_slo_s * 1e3},
                   {"regions", w.regions},
                   {"complexity", std::string(adv::to_string(w.complexity))},
                   {"target_hit_ratio", w.target_hit_ratio},
                   {"hit_model", w.hit_curve                                      ? "measured curve"
                                 : w.cache_policy == adv::cache_policy_model::lru ? "che_lru"
                                                                                  : "static_top"}};
  root["consistency_cost"] = a.consistency_cost;
  json::array figs;
  for (const auto& f : a.figures)
    figs.emplace_back(json::object{{"name", std::string(f.name)},
                                   {"value", f.value},
                                   {"unit", std::string(f.unit)},
                                   {"conditions", std::string(f.conditions)},
                                   {"source", std::string(f.source)},
                                   {"origin", std::string(adv::to_string(f.origin))}});
  root["figures"] = std::move(figs);
  json::array levels;
  for (const auto& l : a.levels)
    levels.emplace_back(level_json(l, w, as_of));
  root["levels"] = std::move(levels);
  json::array prog;
  for (const auto& p : a.progression)
    prog.emplace_back(p);
  root["progression"] = std::move(prog);
  json::value doc = std::move(root);
  tidy(doc);
  std::cout << json::serialize(doc) << "\n";
}

void print_text(const adv::advice& a, const adv::workload& w,
                const std::optional<std::chrono::sys_days>& as_of) {
  using adv::detail::bytes;
  using adv::detail::fixed;
  using adv::detail::num;
  std::cout << "workload: " << num(w.reads_per_s) << " reads/s, " << num(w.writes_per_s)
            << " writes/s; " << num(w.keys) << " keys, Zipf s " << fixed(w.zipf_s, 2) << ", "
            << bytes(w.object_bytes) << " objects (" << adv::to_string(w.content) << "); "
            << bytes(w.data_bytes) << " of data growing " << fixed(w.monthly_growth * 100, 1)
            << "% a month; " << adv::to_string(w.consistency.level) << "; p99 SLO "
            << adv::detail::ms(w.latency_slo_s) << "; " << w.regions << " region(s); "
            << adv::to_string(w.complexity) << " complexity budget\n\n";
  std::cout << "per-server figures (override with the flags):\n";
  for (const auto& f : a.figures)
    std::cout << "  " << f.name << ": " << (f.unit == "bytes" ? bytes(f.value) : num(f.value))
              << (f.unit == "bytes" ? "" : " " + std::string(f.unit)) << ", " << f.conditions
              << " [" << adv::to_string(f.origin) << ": " << f.source << "]\n";
  std::cout << "\nconsistency cost: " << a.consistency_cost << "\n";
  for (const auto& l : a.levels) {
    const auto& n = l.numbers;
    std::cout << "\n== " << num(l.load_multiple) << "x: " << num(l.reads_per_s) << " reads/s, "
              << num(l.writes_per_s) << " writes/s ==\n";
    std::cout << "1. constraint: " << l.binding_reason << "\n   (CPU "
              << fixed(l.resources[0].ratio, 2) << ", memory " << fixed(l.resources[1].ratio, 2)
              << ", network " << fixed(l.resources[2].ratio, 2) << ", storage "
              << fixed(l.resources[3].ratio, 2) << " of one server)\n";
    std::cout << "2. access pattern: " << adv::to_string(l.access) << "\n";
    std::cout << "3. consistency: " << adv::to_string(w.consistency.level) << " (cost above)\n";
    std::cout << "4. stage " << l.stage << " of 4 (a " << adv::to_string(w.complexity)
              << " budget allows up to " << adv::detail::max_stage(w.complexity) << ")\n";
    if (l.patterns.empty())
      std::cout << "patterns: none needed: one primary (with backups) carries it\n";
    else
      std::cout << "patterns, in order:\n";
    int i = 0;
    for (const auto& p : l.patterns) {
      std::cout << "  " << ++i << ". " << adv::to_string(p.what) << " (" << adv::page_of(p.what)
                << ")\n     why: " << p.reason << "\n     consistency: " << p.consistency
                << "\n     failure modes: " << p.failure_modes
                << "\n     operations: " << p.operations << "\n";
    }
    std::cout << "numbers: hit ratio " << fixed(n.predicted_hit_ratio, 3) << " at "
              << num(n.cache_items) << " cache items (" << bytes(n.cache_memory_bytes)
              << "), cache servers " << n.cache_nodes;
    if (w.content == adv::content_scope::shared)
      std::cout << ", CDN edge offload " << fixed(n.cdn_offload, 3);
    std::cout << "; database reads " << num(n.db_reads_per_s)
              << "/s on read servers: " << n.replicas.servers * w.regions << " (utilization "
              << fixed(n.replicas.utilization, 2) << ", p99 wait "
              << adv::detail::ms(n.replicas.p99_wait) << ", p99 response "
              << adv::detail::ms(n.replicas.p99_response) << "); shards " << n.shards << " (writes "
              << n.shards_for_writes << ", data " << n.shards_for_data << ": "
              << bytes(n.data_at_horizon_bytes) << " in " << num(w.horizon_months)
              << " months), filled by the data " << adv::detail::months_words(n.layout.months);
    if (as_of && std::isfinite(n.layout.months))
      std::cout << " (" << date_text(adv::months_after(*as_of, n.layout.months)) << ")";
    std::cout << ", carrying " << fixed(n.layout.load_multiple, 2)
              << "x these writes; queue consumers " << n.queue_consumers;
    if (n.burst_backlog > 0)
      std::cout << " (burst backlog " << num(n.burst_backlog) << " messages, "
                << bytes(n.burst_backlog_bytes) << ")";
    std::cout << "\ncurrent layout (" << w.current_shards << " primar"
              << (w.current_shards == 1 ? "y" : "ies") << "): the data fills it "
              << adv::detail::months_words(n.current_layout.months);
    if (as_of && std::isfinite(n.current_layout.months))
      std::cout << " (" << date_text(adv::months_after(*as_of, n.current_layout.months)) << ")";
    std::cout << "; it carries " << fixed(n.current_layout.load_multiple, 2)
              << "x this write load\n";
    for (const auto& note : l.notes)
      std::cout << "note: " << note << "\n";
  }
  std::cout << "\nprogression:\n";
  for (const auto& p : a.progression)
    std::cout << "  " << p << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"scaling_advisor: the seed's four questions answered for a workload"};
  inputs in;
  std::string format = "text";
  std::optional<std::string> file;
  app.add_option("--file", file, "workload JSON (keys: the flags' names with '_' for '-')");
  app.add_option("--format", format, "text or json")->capture_default_str();
  const std::map<std::string, std::string> help = {
      {"reads_per_s", "reads per second"},
      {"writes_per_s", "writes per second"},
      {"keys", "distinct keys (items)"},
      {"zipf_s", "Zipf exponent of key popularity, 0 (uniform) to 4 (default 0.9)"},
      {"object_bytes", "bytes per object (default 1024)"},
      {"data_bytes", "bytes of data today"},
      {"monthly_growth", "data growth per month, a fraction (0.05 = 5%)"},
      {"max_staleness_s", "bounded staleness: how old a read may be, seconds"},
      {"latency_slo_ms", "p99 read latency objective, ms (default 100)"},
      {"regions", "regions serving readers (default 1)"},
      {"target_hit_ratio", "cache hit ratio to size for, in [0, 1) (default 0.9)"},
      {"utilization_target", "server utilization to plan at, in (0, 1) (default 0.7)"},
      {"fill_target", "disk and cache memory fill to plan at, in (0, 1] (default 0.7)"},
      {"horizon_months", "months of data growth to plan for (default 24)"},
      {"burst_multiple", "peak writes / average writes (default 1)"},
      {"burst_s", "how long a peak lasts, seconds (default 0)"},
      {"drain_target_s", "a burst's backlog must be gone this long after it (default 300)"},
      {"read_node_rate", "reads/s of one database server (default: postgres_read_only)"},
      {"write_node_rate", "durable writes/s of one primary (default: postgres_durable_writes)"},
      {"cache_node_rate", "requests/s of one cache server (default: redis_get)"},
      {"cache_node_memory", "bytes of RAM of one cache or edge server"},
      {"db_node_storage", "bytes one database server holds"},
      {"node_network", "bytes/s of one server's NIC"},
      {"consumer_rate", "messages/s of one queue consumer"},
      {"entry_overhead", "bytes a cache spends per entry beyond the value"},
      {"db_workers", "reads one database server runs at once (its cores)"},
      {"current_shards", "primaries today, whose runway is reported (default 1)"}};
  for (const auto& [field, member] : numeric_fields())
    app.add_option(flag_of(field), in.*member, help.at(field));
  app.add_option("--consistency", in.consistency, "strong, read-your-writes, bounded or eventual");
  app.add_option("--complexity", in.complexity, "complexity budget: low, medium or high");
  app.add_option("--content", in.content, "per-user (default) or shared (edge-cacheable)");
  app.add_option("--cache-policy", in.cache_policy, "lru (Che, default) or static-top (LFU bound)");
  app.add_option("--hit-curve-file", in.hit_curve_file,
                 "cache_replay CSV: its first policy's measured curve replaces the formula");
  app.add_option("--scaling-points", in.scaling_points,
                 "measured read-tier scaling, N:THROUGHPUT,... (USL fit)");
  app.add_option("--as-of", in.as_of, "today's date YYYY-MM-DD, to date the runway");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "scaling_advisor: " << e.what() << "\n"
              << "run 'scaling_advisor --help' for usage\n";
    return 2;
  }
  try {
    if (format != "text" && format != "json") reject("--format", format, "must be text or json");
    if (file) read_file(*file, in);
    const auto b = build_workload(in);
    const auto a = adv::advise(b.w);
    if (format == "json")
      print_json(a, b.w, b.as_of);
    else
      print_text(a, b.w, b.as_of);
  } catch (const bad_input& e) {
    std::cerr << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "scaling_advisor: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
