// scaling_lab: the scaling lab from the command line.
//
//   scaling_lab queue --servers C --arrival-rate L --service-rate M --service exp|det|lognormal
//                     [--cv X] [--duration SECONDS] [--seed N]
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

// Erlang C: the probability that an arrival waits in M/M/c with offered load a = lambda / mu.
double erlang_c(int c, double a) {
  double term = 1.0;
  double sum = 0.0;
  for (int k = 0; k < c; ++k) {
    sum += term;
    term *= a / (k + 1);
  }
  const double last = term * c / (c - a);
  return last / (sum + last);
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
      wq = erlang_c(a.servers, offered) / (a.servers * a.service_rate - a.arrival_rate);
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"scaling_lab: the scaling lab (discrete-event simulation on virtual time)"};
  app.require_subcommand(1);
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
  } catch (const bad_input& e) {
    std::cerr << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "scaling_lab: " << e.what() << "\n";
    return 2;
  }
  return 2;
}
