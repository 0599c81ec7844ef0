// scaling_lab: the scaling lab from the command line.
//
//   scaling_lab stage --stage 1|2|3|4 --rate R[,R...] [--duration SECONDS] [--seed N]
//                     [--objects N] [--zipf S] [--read-fraction F] [--sweep] [--slo-ms MS]
//                     [--format csv|table]
//   scaling_lab queue --servers C --arrival-rate L --service-rate M --service exp|det|lognormal
//                     [--cv X] [--duration SECONDS] [--seed N]
//
// `stage` drives one stage of the seed's progression (architecture/: web_system for stages 1
// and 2, service_system for 3, partitioned_system for 4, in their documented configurations)
// with Poisson load at each rate, on virtual time, and prints
// stage,offered_rps,throughput_rps,p50_ms,p99_ms,hit_ratio,primary_util,bottleneck,within_slo.
// --sweep starts at the (first) rate and multiplies it by 1.25 until p99 passes the SLO, a
// station passes 95% utilization or requests fail; the last row within the SLO is the stage's
// saturation throughput.
//
// `queue` runs one c-server station under Poisson arrivals on virtual time and prints, as CSV,
// what it measured next to what queueing theory predicts where a closed form exists (M/M/c:
// Erlang C; M/D/1 and M/G/1: Pollaczek-Khinchine), so anyone can check the engine against the
// formulas. Rates are per second. Without --duration it runs 100,000 warm-up arrivals and then
// 1,000,000 measured ones, which needs a stable queue (utilization < 1); with --duration it
// runs that long, stable or not (an overloaded queue shows its growth). Bad input: a message
// naming the flag and the value, exit status 2.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <scaling/advisor/queue_model.hpp>
#include <scaling/architecture/partitioned_system.hpp>
#include <scaling/architecture/scenario.hpp>
#include <scaling/architecture/service_system.hpp>
#include <scaling/architecture/web_system.hpp>
#include <scaling/caching/cache.hpp>
#include <scaling/lab/arrivals.hpp>
#include <scaling/lab/simulation.hpp>
#include <scaling/lab/station.hpp>

namespace {

struct bad_input : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <class T>
[[noreturn]] void reject(const std::string& flag, const T& value, const std::string& rule) {
  std::ostringstream out;
  out << "scaling_lab: " << flag << " " << rule << " (got " << value << ")";
  throw bad_input(out.str());
}

struct queue_args {
  int servers = 1;
  double arrival_rate = 0;
  double service_rate = 0;
  std::string service = "exp";
  double cv = 1.0;
  std::optional<double> duration;
  std::uint64_t seed = 1;
};

int run_queue(const queue_args& a) {
  if (a.servers < 1) reject("--servers", a.servers, "must be >= 1");
  if (!(a.arrival_rate > 0) || !std::isfinite(a.arrival_rate))
    reject("--arrival-rate", a.arrival_rate, "must be a finite rate > 0 per second");
  if (!(a.service_rate > 0) || !std::isfinite(a.service_rate))
    reject("--service-rate", a.service_rate, "must be a finite rate > 0 per second");
  if (a.duration && (!(*a.duration > 0) || !std::isfinite(*a.duration)))
    reject("--duration", *a.duration, "must be a finite number of seconds > 0");
  if (!(a.cv > 0) || !std::isfinite(a.cv)) reject("--cv", a.cv, "must be a finite number > 0");
  const double rho = a.arrival_rate / (a.servers * a.service_rate);
  if (rho >= 1.0 && !a.duration) {
    std::ostringstream out;
    out << "scaling_lab: --arrival-rate " << a.arrival_rate << " reaches utilization " << rho
        << " >= 1 with --servers " << a.servers << " at --service-rate " << a.service_rate
        << ": a steady-state run needs utilization < 1; give --duration to watch an overloaded"
           " queue grow";
    throw bad_input(out.str());
  }

  const auto mean =
      std::chrono::nanoseconds{static_cast<std::int64_t>(std::llround(1e9 / a.service_rate))};
  if (mean <= std::chrono::nanoseconds::zero())
    reject("--service-rate", a.service_rate, "must give a mean service time of at least 1 ns");
  std::optional<scaling::lab::distribution> law;
  double scv = 0;
  if (a.service == "exp") {
    law = scaling::lab::distribution::exponential(mean);
    scv = 1.0;
  } else if (a.service == "det") {
    law = scaling::lab::distribution::deterministic(mean);
    scv = 0.0;
  } else if (a.service == "lognormal") {
    law = scaling::lab::distribution::lognormal(mean, a.cv);
    scv = a.cv * a.cv;
  } else {
    reject("--service", a.service, "must be exp, det or lognormal");
  }

  scaling::lab::simulation sim{a.seed};
  scaling::lab::station station{
      sim, {.name = "queue", .servers = static_cast<std::size_t>(a.servers), .service = *law}};
  scaling::lab::poisson_arrivals load{sim, a.arrival_rate,
                                      [&] { station.submit([](const auto&) {}); }};
  load.start();
  const auto seconds = [](double s) {
    return std::chrono::nanoseconds{static_cast<std::int64_t>(std::llround(s * 1e9))};
  };
  if (a.duration) {
    sim.run_for(seconds(*a.duration));
  } else {
    sim.run_for(seconds(100'000.0 / a.arrival_rate));
    station.reset_stats();
    sim.run_for(seconds(1'000'000.0 / a.arrival_rate));
  }
  const auto s = station.stats();

  // The closed forms: M/M/c (Erlang C) for exponential service; Pollaczek-Khinchine for one
  // server with any law (M/G/1: Wq = rho (1 + scv) / (2 mu (1 - rho))).
  std::string formula;
  if (rho < 1.0) {
    double wq = -1;
    if (a.service == "exp") {
      const double offered = a.arrival_rate / a.service_rate;
      wq = scaling::advisor::erlang_c(static_cast<std::size_t>(a.servers), offered) /
           (a.servers * a.service_rate - a.arrival_rate);
    } else if (a.servers == 1) {
      wq = rho * (1 + scv) / (2 * a.service_rate * (1 - rho));
    }
    if (wq >= 0) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.4f", wq * 1e3);
      formula = buf;
    }
  }
  std::printf(
      "servers,arrival_rate,service_rate,utilization,mean_wait_ms,p99_wait_ms,"
      "mean_in_system,completed,formula_mean_wait_ms\n");
  std::printf("%d,%g,%g,%.4f,%.4f,%.4f,%.4f,%llu,%s\n", a.servers, a.arrival_rate, a.service_rate,
              s.utilization, s.wait.mean_ns() / 1e6,
              static_cast<double>(s.wait.percentile(0.99).count()) / 1e6, s.mean_in_system,
              static_cast<unsigned long long>(s.completions), formula.c_str());
  return 0;
}

struct stage_args {
  int stage = 0;
  std::vector<double> rates;
  double duration = 30;
  std::uint64_t seed = 1;
  std::uint64_t objects = 1'000'000;
  double zipf = 0.99;
  double read_fraction = 0.95;
  bool sweep = false;
  double slo_ms = 100;
  std::string format = "csv";
};

struct stage_row {
  double offered = 0;
  double throughput = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  std::string hit_ratio;  // empty where the stage has no cache
  double primary_util = 0;
  std::string bottleneck;
  bool within_slo = false;
};

double ms(std::chrono::nanoseconds d) {
  return static_cast<double>(d.count()) / 1e6;
}

template <class System, class Extra>
stage_row drive(scaling::lab::simulation& sim, System& system, const stage_args& a, double rate,
                Extra extra) {
  using namespace std::chrono;
  const auto window = duration_cast<nanoseconds>(duration<double>(a.duration));
  const auto r = scaling::architecture::run_open_loop(
      sim, system, {.objects = a.objects, .zipf_s = a.zipf, .read_fraction = a.read_fraction}, rate,
      window / 5, window);
  stage_row row;
  row.offered = rate;
  row.throughput = r.throughput_rps;
  row.p50_ms = ms(r.latency.percentile(0.5));
  row.p99_ms = ms(r.latency.percentile(0.99));
  row.bottleneck = r.bottleneck;
  extra(row, r);
  row.within_slo = r.failed == 0 && row.p99_ms <= a.slo_ms && r.bottleneck_utilization < 0.95;
  return row;
}

double util_of(const scaling::architecture::run_result& r, const std::string& name) {
  for (const auto& s : r.stations)
    if (s.name == name) return s.utilization;
  return 0;
}

stage_row run_stage_once(const stage_args& a, double rate) {
  scaling::lab::simulation sim{a.seed};
  using namespace scaling::architecture;
  switch (a.stage) {
    case 1: {
      web_system<> system{sim, stage_1_options()};
      return drive(sim, system, a, rate, [&](stage_row& row, const run_result& r) {
        const double edge =
            scaling::ratio(system.edge_hits(), system.edge_hits() + system.edge_misses());
        row.hit_ratio = std::to_string(edge);
        row.primary_util = util_of(r, "db-0");
      });
    }
    case 2: {
      using app_cache = scaling::cache<std::uint64_t, std::uint64_t, scaling::w_tinylfu>;
      web_system<app_cache> system{sim, stage_2_options()};
      return drive(sim, system, a, rate, [&](stage_row& row, const run_result& r) {
        row.hit_ratio = std::to_string(system.app_cache_stats().hit_ratio());
        row.primary_util = util_of(r, "db-0");
      });
    }
    case 3: {
      service_system system{sim, {}};
      return drive(sim, system, a, rate, [&](stage_row& row, const run_result& r) {
        row.primary_util = util_of(r, "posts-db-0");
      });
    }
    case 4: {
      partitioned_system system{sim, {.nodes = 8, .regions = 2}};
      return drive(sim, system, a, rate, [&](stage_row& row, const run_result& r) {
        double peak = 0;
        for (const auto& s : r.stations)
          if (s.name.rfind("db-", 0) == 0 && s.name.find('@') == std::string::npos)
            peak = std::max(peak, s.utilization);
        row.primary_util = peak;  // the busiest home node
      });
    }
  }
  reject("--stage", a.stage, "must be 1, 2, 3 or 4");
}

int run_stage(const stage_args& a) {
  if (a.stage < 1 || a.stage > 4) reject("--stage", a.stage, "must be 1, 2, 3 or 4");
  if (a.rates.empty()) reject("--rate", "", "must list at least one rate");
  for (const double r : a.rates)
    if (!(r > 0) || !std::isfinite(r)) reject("--rate", r, "must be finite rates > 0 per second");
  if (!(a.duration > 0) || !std::isfinite(a.duration))
    reject("--duration", a.duration, "must be a finite number of seconds > 0");
  if (a.objects == 0) reject("--objects", a.objects, "must be >= 1");
  if (!(a.zipf > 0) || !std::isfinite(a.zipf))
    reject("--zipf", a.zipf, "must be a finite number > 0");
  if (!(a.read_fraction >= 0 && a.read_fraction <= 1))
    reject("--read-fraction", a.read_fraction, "must be in [0, 1]");
  if (!(a.slo_ms > 0)) reject("--slo-ms", a.slo_ms, "must be > 0");
  if (a.format != "csv" && a.format != "table")
    reject("--format", a.format, "must be csv or table");

  const bool table = a.format == "table";
  if (table)
    std::printf("%-5s %12s %14s %9s %9s %9s %12s %-14s %s\n", "stage", "offered_rps",
                "throughput_rps", "p50_ms", "p99_ms", "hit_ratio", "primary_util", "bottleneck",
                "within_slo");
  else
    std::printf(
        "stage,offered_rps,throughput_rps,p50_ms,p99_ms,hit_ratio,primary_util,"
        "bottleneck,within_slo\n");
  auto print = [&](const stage_row& row) {
    if (table)
      std::printf("%-5d %12.0f %14.1f %9.3f %9.3f %9s %12.3f %-14s %d\n", a.stage, row.offered,
                  row.throughput, row.p50_ms, row.p99_ms,
                  row.hit_ratio.empty() ? "-" : row.hit_ratio.substr(0, 6).c_str(),
                  row.primary_util, row.bottleneck.c_str(), row.within_slo ? 1 : 0);
    else
      std::printf("%d,%.0f,%.1f,%.3f,%.3f,%s,%.4f,%s,%d\n", a.stage, row.offered, row.throughput,
                  row.p50_ms, row.p99_ms, row.hit_ratio.c_str(), row.primary_util,
                  row.bottleneck.c_str(), row.within_slo ? 1 : 0);
    std::fflush(stdout);
  };
  if (a.sweep) {
    double rate = a.rates.front();
    for (int step = 0; step < 60; ++step, rate *= 1.25) {
      const stage_row row = run_stage_once(a, rate);
      print(row);
      if (!row.within_slo) break;
    }
    return 0;
  }
  for (const double rate : a.rates)
    print(run_stage_once(a, rate));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"scaling_lab: the scaling lab (discrete-event simulation on virtual time)"};
  app.require_subcommand(1);
  stage_args st;
  auto* stage = app.add_subcommand(
      "stage", "one stage of the seed's progression under Poisson load, on virtual time");
  stage->add_option("--stage", st.stage, "1, 2, 3 or 4")->required();
  stage->add_option("--rate", st.rates, "offered requests per second (a comma list)")
      ->required()
      ->delimiter(',');
  stage
      ->add_option("--duration", st.duration, "measured seconds of virtual time (warm-up: a fifth)")
      ->capture_default_str();
  stage->add_option("--seed", st.seed, "random seed")->capture_default_str();
  stage->add_option("--objects", st.objects, "distinct keys")->capture_default_str();
  stage->add_option("--zipf", st.zipf, "popularity skew s")->capture_default_str();
  stage->add_option("--read-fraction", st.read_fraction, "share of reads")->capture_default_str();
  stage->add_flag("--sweep", st.sweep, "raise the rate by 1.25x until the SLO breaks");
  stage->add_option("--slo-ms", st.slo_ms, "p99 latency objective")->capture_default_str();
  stage->add_option("--format", st.format, "csv or table")->capture_default_str();

  queue_args q;
  auto* queue = app.add_subcommand(
      "queue", "one c-server station under Poisson arrivals, measured beside the formulas");
  queue->add_option("--servers", q.servers, "servers (c)")->required();
  queue->add_option("--arrival-rate", q.arrival_rate, "arrivals per second (lambda)")->required();
  queue->add_option("--service-rate", q.service_rate, "services per second per server (mu)")
      ->required();
  queue->add_option("--service", q.service, "service-time law: exp, det or lognormal")
      ->capture_default_str();
  queue->add_option("--cv", q.cv, "coefficient of variation of a lognormal service")
      ->capture_default_str();
  queue->add_option("--duration", q.duration, "seconds of virtual time (default: 1M arrivals)");
  queue->add_option("--seed", q.seed, "random seed")->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "scaling_lab: " << e.what() << "\n"
              << "run 'scaling_lab --help' for usage\n";
    return 2;
  }
  try {
    if (queue->parsed()) return run_queue(q);
    if (stage->parsed()) return run_stage(st);
  } catch (const bad_input& e) {
    std::cerr << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "scaling_lab: " << e.what() << "\n";
    return 2;
  }
  return 2;
}
