// scaling/advisor/usl.hpp: Gunther's Universal Scalability Law, and its fit to measurements.
//
// What it is: `usl`, the relative capacity of N nodes (or threads, or replicas)
//   C(N) = N / (1 + sigma (N - 1) + kappa N (N - 1)),
// where sigma is contention (the share of work that serialises: a lock, a primary, a
// coordinator) and kappa is coherency (the cost of keeping N copies in agreement, growing with
// the number of pairs); its peak N* = sqrt((1 - sigma) / kappa), past which adding nodes lowers
// throughput; and `fit_usl`, which recovers sigma, kappa and the one-node throughput from
// measured (N, throughput) points.
//
// When to pick it: when a load test at a few sizes exists, to tell how far scaling out still
// pays (Amdahl's law is the kappa = 0 case and never turns down; the USL does).
//
//   scaling::advisor::usl law{.sigma = 0.05, .kappa = 0.001};
//   double x8 = law.relative_capacity(8);         // 5.69
//   double peak = law.peak();                     // 30.8
//   auto fit = scaling::advisor::fit_usl({{1, 955}, {2, 1878}, {4, 3548}, {8, 5430}});
//
// The fit. With a point at N = 1 (its throughput is X(1); several are averaged), the standard
// linearisation: C(N) = X(N) / X(1) gives N / C(N) - 1 = sigma (N - 1) + kappa N (N - 1), a
// least-squares line through the origin in two unknowns (2 x 2 normal equations). Without a
// point at N = 1, or to correct the linearisation's weighting (it magnifies the noise of large
// N), a Gauss-Newton refinement then fits lambda = X(1), sigma and kappa to the throughputs
// themselves (least squares in relative throughput error), starting from the line (or from lambda =
// X(N_min) / N_min, sigma = kappa = 0 without an N = 1 point), and keeping a step only when it
// lowers the residual. Estimates are clamped to sigma in [0, 1), kappa >= 0. Exact points recover
// sigma and kappa to 1e-6; with 2% multiplicative noise over N = 1..64 within 0.02 and 2e-4
// (tests/advisor/usl_test.cpp).
// Thread safety: values and pure functions. Complexity: fit O(points x iterations).
// Reference: N. J. Gunther, "Guerrilla Capacity Planning", Springer 2007, ch. 4-5.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "scaling/core/error.hpp"

namespace scaling::advisor {

struct usl {
  double sigma = 0;  // contention, in [0, 1)
  double kappa = 0;  // coherency, >= 0

  [[nodiscard]] double relative_capacity(double n) const noexcept {
    return n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0));
  }
  // N* = sqrt((1 - sigma) / kappa); infinite when kappa == 0 (no retrograde region).
  [[nodiscard]] double peak() const noexcept {
    if (kappa <= 0.0) return std::numeric_limits<double>::infinity();
    return std::sqrt((1.0 - sigma) / kappa);
  }
};

struct usl_point {
  double nodes = 1;       // N >= 1
  double throughput = 0;  // X(N) > 0
};

struct usl_fit {
  usl law;
  double single_node_throughput = 0;  // lambda = X(1)
  double rms_relative_error = 0;      // of the fitted throughputs against the points
  [[nodiscard]] double throughput(double n) const noexcept {
    return single_node_throughput * law.relative_capacity(n);
  }
};

// Fits sigma, kappa and X(1) to measured points (see the banner).
// Throws: scaling::invalid_argument if there are fewer than 3 points, fewer than 2 distinct N,
// or a point has N < 1 or a throughput that is not finite and > 0.
[[nodiscard]] inline usl_fit fit_usl(const std::vector<usl_point>& points) {
  constexpr auto who = "scaling::advisor::fit_usl";
  if (points.size() < 3)
    scaling::detail::throw_invalid_argument(
        who, "points", "must hold at least 3 (N, throughput) points", points.size());
  double n_min = std::numeric_limits<double>::infinity(), n_max = 0;
  for (const auto& p : points) {
    if (!(p.nodes >= 1.0) || !std::isfinite(p.nodes))
      scaling::detail::throw_invalid_argument(who, "points.nodes", "must be a finite number >= 1",
                                              p.nodes);
    if (!(p.throughput > 0.0) || !std::isfinite(p.throughput))
      scaling::detail::throw_invalid_argument(who, "points.throughput",
                                              "must be a finite number > 0", p.throughput);
    n_min = std::min(n_min, p.nodes);
    n_max = std::max(n_max, p.nodes);
  }
  if (n_max == n_min)
    scaling::detail::throw_invalid_argument(who, "points.nodes",
                                            "must take at least 2 distinct values", n_min);

  auto clamp = [](usl_fit f) {
    f.law.sigma = std::clamp(f.law.sigma, 0.0, 0.999999);
    f.law.kappa = std::max(0.0, f.law.kappa);
    return f;
  };
  auto sse = [&](const usl_fit& f) {
    double s = 0;
    for (const auto& p : points) {
      const double r = (f.throughput(p.nodes) - p.throughput) / p.throughput;
      s += r * r;
    }
    return s;
  };

  usl_fit fit;
  double x1 = 0;
  int ones = 0;
  for (const auto& p : points)
    if (p.nodes == 1.0) {
      x1 += p.throughput;
      ++ones;
    }
  if (ones > 0) {
    // The linearisation: y = N / C(N) - 1 = sigma a + kappa b, a = N - 1, b = N (N - 1).
    x1 /= ones;
    double saa = 0, sab = 0, sbb = 0, say = 0, sby = 0;
    for (const auto& p : points) {
      if (p.nodes == 1.0) continue;
      const double a = p.nodes - 1.0, b = p.nodes * (p.nodes - 1.0);
      const double y = p.nodes * x1 / p.throughput - 1.0;
      saa += a * a;
      sab += a * b;
      sbb += b * b;
      say += a * y;
      sby += b * y;
    }
    const double det = saa * sbb - sab * sab;
    fit.single_node_throughput = x1;
    if (std::abs(det) > 1e-12 * saa * sbb) {
      fit.law.sigma = (say * sbb - sby * sab) / det;
      fit.law.kappa = (sby * saa - say * sab) / det;
    } else {
      fit.law.sigma = saa > 0 ? say / saa : 0.0;  // one distinct N > 1: Amdahl only
    }
  } else {
    for (const auto& p : points)
      if (p.nodes == n_min) fit.single_node_throughput = p.throughput / p.nodes;
  }
  fit = clamp(fit);

  // Gauss-Newton on relative residuals r_i = X_fit(N_i) / X_i - 1 over (lambda, sigma, kappa).
  double best = sse(fit);
  for (int iter = 0; iter < 100; ++iter) {
    std::array<std::array<double, 3>, 3> jtj{};
    std::array<double, 3> jtr{};
    const double lambda = fit.single_node_throughput;
    for (const auto& p : points) {
      const double n = p.nodes;
      const double d = 1.0 + fit.law.sigma * (n - 1.0) + fit.law.kappa * n * (n - 1.0);
      const double x = lambda * n / d;
      const double r = x / p.throughput - 1.0;
      const std::array<double, 3> j = {n / d / p.throughput, -x * (n - 1.0) / d / p.throughput,
                                       -x * n * (n - 1.0) / d / p.throughput};
      for (std::size_t a = 0; a < 3; ++a) {
        jtr[a] += j[a] * r;
        for (std::size_t b = 0; b < 3; ++b)
          jtj[a][b] += j[a] * j[b];
      }
    }
    // Solve jtj delta = -jtr by Gaussian elimination with a small ridge for stability.
    for (std::size_t a = 0; a < 3; ++a)
      jtj[a][a] *= 1.0 + 1e-12;
    std::array<double, 3> delta{-jtr[0], -jtr[1], -jtr[2]};
    bool singular = false;
    for (std::size_t c = 0; c < 3 && !singular; ++c) {
      std::size_t pivot = c;
      for (std::size_t r = c + 1; r < 3; ++r)
        if (std::abs(jtj[r][c]) > std::abs(jtj[pivot][c])) pivot = r;
      if (std::abs(jtj[pivot][c]) < 1e-300) {
        singular = true;
        break;
      }
      std::swap(jtj[c], jtj[pivot]);
      std::swap(delta[c], delta[pivot]);
      for (std::size_t r = c + 1; r < 3; ++r) {
        const double f = jtj[r][c] / jtj[c][c];
        for (std::size_t k = c; k < 3; ++k)
          jtj[r][k] -= f * jtj[c][k];
        delta[r] -= f * delta[c];
      }
    }
    if (singular) break;
    for (std::size_t c = 3; c-- > 0;) {
      for (std::size_t k = c + 1; k < 3; ++k)
        delta[c] -= jtj[c][k] * delta[k];
      delta[c] /= jtj[c][c];
    }
    // Halve the step until the residual falls (or give up).
    double step = 1.0;
    bool improved = false;
    for (int h = 0; h < 30; ++h, step /= 2) {
      usl_fit trial = fit;
      trial.single_node_throughput = lambda + step * delta[0];
      trial.law.sigma += step * delta[1];
      trial.law.kappa += step * delta[2];
      if (!(trial.single_node_throughput > 0)) continue;
      trial = clamp(trial);
      const double e = sse(trial);
      if (e < best) {
        const double gain = best - e;
        fit = trial;
        best = e;
        improved = gain > 1e-15 * (1.0 + e);
        break;
      }
    }
    if (!improved) break;
  }
  fit.rms_relative_error = std::sqrt(best / static_cast<double>(points.size()));
  return fit;
}

}  // namespace scaling::advisor
