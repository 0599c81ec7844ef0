// scaling/lab/random.hpp: the lab's random numbers, the same for a seed on every platform.
//
// What it is: `lab::rng`, xoshiro256** seeded through splitmix64, and `lab::distribution`,
// the service-time and think-time laws a station draws from: deterministic, exponential,
// lognormal (from its mean and coefficient of variation) and empirical (measured samples,
// drawn uniformly). Every draw is computed here from the generator's 64-bit output, never
// through <random>'s distributions, whose results differ between standard libraries: a lab
// run is a function of its seed alone.
//
// When to pick it: inside the lab, and in tests that need reproducible random durations.
//
//   scaling::lab::rng gen{42};
//   auto service = scaling::lab::distribution::exponential(std::chrono::milliseconds{5});
//   std::chrono::nanoseconds d = service.sample(gen);   // mean 5 ms
//
// Thread safety: an rng is a plain value, used by one thread at a time; a distribution is
// immutable after construction and may be shared.
// Complexity: a draw is O(1) (empirical: one index).
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <numbers>
#include <string>
#include <string_view>
#include <vector>

#include "scaling/core/error.hpp"

namespace scaling::lab {

// xoshiro256** (Blackman and Vigna, 2018): 256 bits of state, period 2^256 - 1.
class rng {
 public:
  using result_type = std::uint64_t;

  explicit rng(std::uint64_t seed = 0) noexcept {
    // splitmix64 spreads any seed (0 included) over the whole state.
    for (auto& word : s_) {
      seed += 0x9e3779b97f4a7c15ULL;
      std::uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      word = z ^ (z >> 31);
    }
  }

  static constexpr result_type min() noexcept { return 0; }
  static constexpr result_type max() noexcept { return std::numeric_limits<result_type>::max(); }

  result_type operator()() noexcept {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, 1), 53 bits of precision.
  double uniform01() noexcept { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }
  // Uniform in (0, 1]: safe to take the logarithm of.
  double uniform01_open_low() noexcept { return 1.0 - uniform01(); }
  // Uniform in [0, n), n >= 1, without modulo bias: draws below 2^64 mod n are redrawn.
  std::uint64_t below(std::uint64_t n) noexcept {
    const std::uint64_t threshold = (0 - n) % n;
    for (;;) {
      const std::uint64_t r = (*this)();
      if (r >= threshold) return r % n;
    }
  }
  // Standard normal, by the Box-Muller transform (one of the pair is used).
  double normal() noexcept {
    const double u1 = uniform01_open_low();
    const double u2 = uniform01();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }
  // Exponential with the given mean.
  double exponential(double mean) noexcept { return -mean * std::log(uniform01_open_low()); }

 private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept {
    return (x << k) | (x >> (64 - k));
  }
  std::uint64_t s_[4]{};
};

// A law of durations: how long a service, a think time or a network hop takes.
class distribution {
 public:
  using duration = std::chrono::nanoseconds;
  enum class kind : std::uint8_t { deterministic, exponential, lognormal, empirical };

  // Always `d`. Throws scaling::invalid_argument if d < 0.
  static distribution deterministic(duration d) {
    check_non_negative("deterministic", "d", d);
    return distribution{kind::deterministic, static_cast<double>(d.count()), 0.0, 0.0, {}};
  }
  // Exponential with mean `mean` (memoryless: the M in M/M/c).
  // Throws scaling::invalid_argument if mean <= 0.
  static distribution exponential(duration mean) {
    check_positive("exponential", "mean", mean);
    return distribution{kind::exponential, static_cast<double>(mean.count()), 0.0, 0.0, {}};
  }
  // Lognormal with mean `mean` and coefficient of variation `cv` (standard deviation / mean):
  // the long right tail that measured service times show. cv = 1 has an exponential's spread.
  // Throws scaling::invalid_argument if mean <= 0 or cv <= 0 (or not finite).
  static distribution lognormal(duration mean, double cv) {
    check_positive("lognormal", "mean", mean);
    if (!(cv > 0.0) || !std::isfinite(cv))
      detail::throw_invalid_argument("scaling::lab::distribution::lognormal", "cv",
                                     "must be a finite number > 0", cv);
    const double sigma2 = std::log1p(cv * cv);
    const double mu = std::log(static_cast<double>(mean.count())) - sigma2 / 2.0;
    return distribution{
        kind::lognormal, static_cast<double>(mean.count()), mu, std::sqrt(sigma2), {}};
  }
  // One of `samples`, drawn uniformly: a measured service time replayed.
  // Throws scaling::invalid_argument if samples is empty or holds a negative duration.
  static distribution empirical(std::vector<duration> samples) {
    if (samples.empty())
      detail::throw_invalid_argument("scaling::lab::distribution::empirical", "samples",
                                     "must not be empty", samples.size());
    double sum = 0.0;
    for (const duration d : samples) {
      check_non_negative("empirical", "samples", d);
      sum += static_cast<double>(d.count());
    }
    const double mean = sum / static_cast<double>(samples.size());
    return distribution{kind::empirical, mean, 0.0, 0.0,
                        std::make_shared<const std::vector<duration>>(std::move(samples))};
  }

  // One draw.
  [[nodiscard]] duration sample(rng& gen) const noexcept {
    switch (kind_) {
      case kind::deterministic:
        return duration{static_cast<duration::rep>(mean_)};
      case kind::exponential:
        return to_duration(gen.exponential(mean_));
      case kind::lognormal:
        return to_duration(std::exp(mu_ + sigma_ * gen.normal()));
      case kind::empirical:
        return (*samples_)[gen.below(samples_->size())];
    }
    return duration::zero();
  }

  // The law's mean, in nanoseconds.
  [[nodiscard]] double mean_ns() const noexcept { return mean_; }
  // E[S^2] / E[S]^2 - 1, the squared coefficient of variation (0, 1, cv^2, or measured).
  [[nodiscard]] double scv() const noexcept {
    switch (kind_) {
      case kind::deterministic:
        return 0.0;
      case kind::exponential:
        return 1.0;
      case kind::lognormal:
        return std::expm1(sigma_ * sigma_);
      case kind::empirical: {
        double sq = 0.0;
        for (const duration d : *samples_) {
          const double x = static_cast<double>(d.count()) - mean_;
          sq += x * x;
        }
        return mean_ == 0.0 ? 0.0 : sq / static_cast<double>(samples_->size()) / (mean_ * mean_);
      }
    }
    return 0.0;
  }
  [[nodiscard]] kind law() const noexcept { return kind_; }

 private:
  distribution(kind k, double mean, double mu, double sigma,
               std::shared_ptr<const std::vector<duration>> samples)
      : kind_(k), mean_(mean), mu_(mu), sigma_(sigma), samples_(std::move(samples)) {}

  static duration to_duration(double ns) noexcept {
    constexpr double cap = static_cast<double>(std::numeric_limits<duration::rep>::max() / 2);
    return duration{static_cast<duration::rep>(std::llround(ns < cap ? ns : cap))};
  }
  static void check_non_negative(std::string_view law, std::string_view parameter, duration d) {
    if (d < duration::zero())
      detail::throw_invalid_argument(std::string{"scaling::lab::distribution::"} + std::string{law},
                                     parameter, "must be >= 0 ns", d.count());
  }
  static void check_positive(std::string_view law, std::string_view parameter, duration d) {
    if (d <= duration::zero())
      detail::throw_invalid_argument(std::string{"scaling::lab::distribution::"} + std::string{law},
                                     parameter, "must be > 0 ns", d.count());
  }

  kind kind_;
  double mean_;
  double mu_;
  double sigma_;
  std::shared_ptr<const std::vector<duration>> samples_;
};

}  // namespace scaling::lab
