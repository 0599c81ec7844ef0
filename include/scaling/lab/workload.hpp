// scaling/lab/workload.hpp: what the lab's users ask for and when: key popularity, load that
// changes over time, and users who wait for their answers.
//
// What it is:
//   - `zipf_distribution`: ranks 1..n drawn with P(k) proportional to 1 / k^s, by Hoermann and
//     Derflinger's rejection-inversion (O(1) per draw, no table, any n up to 2^53, s > 0
//     including s = 1), the popularity law of web objects, timelines and cache keys;
//   - `rate_schedule`: piecewise-constant rates applied to a `poisson_arrivals` at chosen
//     instants, with `ramp` and `spike` helpers (load that grows, a flash crowd);
//   - `object_sizes`: each object's size in bytes, fixed per key (lognormal around a mean, or
//     all equal), for byte-bounded caches and the bytes each tier serves;
//   - `closed_loop_users`: a fixed population that thinks, sends a request, waits for its
//     answer, thinks again, so that throughput falls when the system slows down (the opposite
//     of open-loop Poisson arrivals).
//
// When to pick it: to describe a scenario for the lab. A trace replayed instead of a Zipf law
// is a loop over the trace's keys in a callback.
//
//   scaling::lab::zipf_distribution popularity{1'000'000, 0.99};
//   std::uint64_t key = popularity(sim.rng()) - 1;              // 0 is the hottest key
//   scaling::lab::object_sizes sizes{1'024, 1.0};                  // mean 1 KB, cv 1
//   std::uint64_t bytes = sizes(key);                              // the same for every call
//   scaling::lab::rate_schedule::ramp(1'000, 10'000, 0s, 60s, 10).apply(sim, load);
//
// Thread safety: none (each lives in one simulation; a zipf_distribution is immutable after
// construction and can be shared).
// Reference: W. Hoermann, G. Derflinger, "Rejection-inversion to generate variates from monotone
// discrete distributions", ACM TOMACS 6(3), 1996.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "scaling/core/error.hpp"
#include "scaling/lab/arrivals.hpp"
#include "scaling/lab/random.hpp"
#include "scaling/lab/simulation.hpp"

namespace scaling::lab {

class zipf_distribution {
 public:
  // Ranks 1..n with exponent s.
  // Throws: scaling::invalid_argument if n == 0 or n > 2^53, or s is not a finite number > 0.
  zipf_distribution(std::uint64_t n, double s) : n_(n), s_(s) {
    if (n == 0 || n > (std::uint64_t{1} << 53))
      detail::throw_invalid_argument("scaling::lab::zipf_distribution", "n", "must be in [1, 2^53]",
                                     n);
    if (!(s > 0.0) || !std::isfinite(s))
      detail::throw_invalid_argument("scaling::lab::zipf_distribution", "s",
                                     "must be a finite number > 0", s);
    h_integral_x1_ = h_integral(1.5) - 1.0;
    h_integral_n_ = h_integral(static_cast<double>(n) + 0.5);
    squeeze_ = 2.0 - h_integral_inverse(h_integral(2.5) - h(2.0));
  }

  // One rank in [1, n].
  std::uint64_t operator()(rng& gen) const noexcept {
    const double nd = static_cast<double>(n_);
    for (;;) {
      const double u = h_integral_n_ + gen.uniform01() * (h_integral_x1_ - h_integral_n_);
      const double x = h_integral_inverse(u);
      double k = std::floor(x + 0.5);
      if (k < 1.0) k = 1.0;
      if (k > nd) k = nd;
      if (k - x <= squeeze_ || u >= h_integral(k + 0.5) - h(k))
        return static_cast<std::uint64_t>(k);
    }
  }

  [[nodiscard]] std::uint64_t n() const noexcept { return n_; }
  [[nodiscard]] double s() const noexcept { return s_; }

 private:
  // h(x) = x^-s, H its antiderivative with H(1) = 0 (written so that s = 1 is not special).
  [[nodiscard]] double h(double x) const noexcept { return std::exp(-s_ * std::log(x)); }
  [[nodiscard]] double h_integral(double x) const noexcept {
    const double log_x = std::log(x);
    return helper2((1.0 - s_) * log_x) * log_x;
  }
  [[nodiscard]] double h_integral_inverse(double x) const noexcept {
    double t = x * (1.0 - s_);
    if (t < -1.0) t = -1.0;
    return std::exp(helper1(t) * x);
  }
  // log1p(x) / x and expm1(x) / x, continuous at 0.
  static double helper1(double x) noexcept {
    return std::abs(x) > 1e-8 ? std::log1p(x) / x : 1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x));
  }
  static double helper2(double x) noexcept {
    return std::abs(x) > 1e-8 ? std::expm1(x) / x
                              : 1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x));
  }

  std::uint64_t n_;
  double s_;
  double h_integral_x1_ = 0;
  double h_integral_n_ = 0;
  double squeeze_ = 0;
};

// Rates that change at given instants: a ramp, a spike, a daily curve.
// Each object's size in bytes, a pure function of its key: lognormal with mean `mean_bytes`
// and coefficient of variation `cv` (0: every object is mean_bytes), drawn from a generator
// seeded by the key, so a key has one size for the whole run and across runs.
class object_sizes {
 public:
  // Throws: scaling::invalid_argument if mean_bytes == 0 or cv is negative or not finite.
  explicit object_sizes(std::uint64_t mean_bytes = 1'024, double cv = 0.0)
      : mean_(mean_bytes), cv_(cv) {
    if (mean_bytes == 0)
      detail::throw_invalid_argument("scaling::lab::object_sizes", "mean_bytes", "must be >= 1",
                                     mean_bytes);
    if (!(cv >= 0.0) || !std::isfinite(cv))
      detail::throw_invalid_argument("scaling::lab::object_sizes", "cv",
                                     "must be a finite number >= 0", cv);
    sigma_ = std::sqrt(std::log1p(cv * cv));
    mu_ = std::log(static_cast<double>(mean_bytes)) - sigma_ * sigma_ / 2;
  }

  // The size of object `key`, at least 1 byte.
  [[nodiscard]] std::uint64_t operator()(std::uint64_t key) const noexcept {
    if (cv_ == 0.0) return mean_;
    rng gen{key ^ 0x5bd1e9955bd1e995ULL};
    const double bytes = std::exp(mu_ + sigma_ * gen.normal());
    return std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::llround(bytes)));
  }
  [[nodiscard]] std::uint64_t mean_bytes() const noexcept { return mean_; }
  [[nodiscard]] double cv() const noexcept { return cv_; }

 private:
  std::uint64_t mean_;
  double cv_;
  double sigma_ = 0;
  double mu_ = 0;
};

class rate_schedule {
 public:
  using time_point = simulation::time_point;
  using duration = std::chrono::nanoseconds;
  struct step {
    duration at;  // since the start of the run
    double rate;  // per second, from `at` on
  };

  rate_schedule() = default;
  // Throws: scaling::invalid_argument if a rate is negative or not finite, or the steps are
  // not in increasing time order.
  explicit rate_schedule(std::vector<step> steps) : steps_(std::move(steps)) {
    for (std::size_t i = 0; i < steps_.size(); ++i) {
      if (!(steps_[i].rate >= 0.0) || !std::isfinite(steps_[i].rate))
        detail::throw_invalid_argument("scaling::lab::rate_schedule", "rate",
                                       "must be a finite number >= 0", steps_[i].rate);
      if (i > 0 && steps_[i].at < steps_[i - 1].at)
        detail::throw_invalid_argument("scaling::lab::rate_schedule", "at",
                                       "must not decrease from one step to the next (ns)",
                                       steps_[i].at.count());
    }
  }

  // From `from` to `to` per second, linearly over [start, start + length], in `steps` equal
  // steps (the last reaching `to`).
  // Throws: scaling::invalid_argument if steps == 0 or length < 0.
  static rate_schedule ramp(double from, double to, duration start, duration length,
                            std::size_t steps) {
    if (steps == 0)
      detail::throw_invalid_argument("scaling::lab::rate_schedule::ramp", "steps", "must be >= 1",
                                     steps);
    if (length < duration::zero())
      detail::throw_invalid_argument("scaling::lab::rate_schedule::ramp", "length",
                                     "must be >= 0 ns", length.count());
    std::vector<step> out;
    out.push_back({start, from});
    for (std::size_t i = 1; i <= steps; ++i) {
      const double f = static_cast<double>(i) / static_cast<double>(steps);
      out.push_back(
          {start + std::chrono::duration_cast<duration>(length * f), from + (to - from) * f});
    }
    return rate_schedule{std::move(out)};
  }
  // `base`, then `peak` for [at, at + length), then `base` again: a flash crowd.
  static rate_schedule spike(double base, double peak, duration at, duration length) {
    return rate_schedule{{{duration::zero(), base}, {at, peak}, {at + length, base}}};
  }

  // Schedules every step on `sim`, relative to now(), as set_rate calls on `load`. The
  // arrivals object must outlive the steps (or be stopped; a stopped stream ignores rates).
  void apply(simulation& sim, poisson_arrivals& load) const {
    for (const step& s : steps_) {
      sim.after(s.at, [&load, rate = s.rate] { load.set_rate(rate); });
    }
  }

  [[nodiscard]] const std::vector<step>& steps() const noexcept { return steps_; }

 private:
  std::vector<step> steps_;
};

// A fixed population of users, each repeating: think, send one request, wait for its answer.
class closed_loop_users {
 public:
  // What a user does to send a request: start it, and call `done` once when it is answered.
  using issue_fn = std::function<void(std::function<void()> done)>;

  // Throws: scaling::invalid_argument if users == 0 or issue is empty.
  closed_loop_users(simulation& sim, std::size_t users, distribution think, issue_fn issue)
      : state_(std::make_shared<state>(
            state{&sim, users, std::move(think), std::move(issue), 0, 0, false})) {
    if (users == 0)
      detail::throw_invalid_argument("scaling::lab::closed_loop_users", "users", "must be >= 1",
                                     users);
    if (!state_->issue)
      detail::throw_invalid_argument("scaling::lab::closed_loop_users", "issue",
                                     "must not be empty");
  }
  ~closed_loop_users() { stop(); }
  closed_loop_users(const closed_loop_users&) = delete;
  closed_loop_users& operator=(const closed_loop_users&) = delete;

  // Every user starts thinking now (idempotent).
  void start() {
    if (state_->running) return;
    state_->running = true;
    for (std::size_t i = 0; i < state_->users; ++i)
      think(state_, state_->generation);
  }
  // Users stop sending; answers still in flight are taken and not followed by a request.
  void stop() noexcept {
    state_->running = false;
    ++state_->generation;
  }
  [[nodiscard]] std::uint64_t requests() const noexcept { return state_->requests; }

 private:
  struct state {
    simulation* sim;
    std::size_t users;
    distribution think_time;
    issue_fn issue;
    std::uint64_t generation;
    std::uint64_t requests;
    bool running;
  };

  static void think(const std::shared_ptr<state>& s, std::uint64_t generation) {
    std::weak_ptr<state> weak = s;
    s->sim->after(s->think_time.sample(s->sim->rng()), [weak, generation] {
      const auto live = weak.lock();
      if (!live || !live->running || live->generation != generation) return;
      ++live->requests;
      live->issue([weak, generation] {
        const auto again = weak.lock();
        if (!again || !again->running || again->generation != generation) return;
        think(again, generation);
      });
    });
  }

  std::shared_ptr<state> state_;
};

}  // namespace scaling::lab
