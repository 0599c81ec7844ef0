// scaling/core/error.hpp: the one way the library reports bad arguments.
//
// What it is: `scaling::invalid_argument`, a std::invalid_argument whose message always names
// the component, the parameter, the value it got and the rule it broke, e.g.
//   "scaling::hash_ring: points_per_node must be >= 1 (got 0)".
// Users catch std::invalid_argument; the extra accessors are for tests and logs.
//
//   try { scaling::hash_ring<std::string> ring{{.points_per_node = 0}}; }
//   catch (const std::invalid_argument& e) { std::puts(e.what()); }
//
// Thread safety: the exception is an immutable value.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace scaling {

// Thrown for bad constructor arguments and bad configuration. Derives from
// std::invalid_argument so callers need not know this type.
class invalid_argument : public std::invalid_argument {
 public:
  invalid_argument(std::string component, std::string parameter, std::string message)
      : std::invalid_argument(message),
        component_(std::move(component)),
        parameter_(std::move(parameter)) {}

  // The component that rejected the argument, e.g. "scaling::hash_ring".
  [[nodiscard]] const std::string& component() const noexcept { return component_; }
  // The parameter that was wrong, e.g. "points_per_node".
  [[nodiscard]] const std::string& parameter() const noexcept { return parameter_; }

 private:
  std::string component_;
  std::string parameter_;
};

namespace detail {

template <class T>
void append_value(std::ostringstream& out, const T& value) {
  if constexpr (std::is_same_v<T, bool>) {
    out << (value ? "true" : "false");
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    out << '"' << std::string_view{value} << '"';
  } else if constexpr (std::is_enum_v<T>) {
    out << static_cast<std::underlying_type_t<T>>(value);
  } else if constexpr (std::is_integral_v<T> && sizeof(T) == 1) {
    out << static_cast<int>(value);
  } else {
    out << value;
  }
}

// Throws scaling::invalid_argument with the message
// "<component>: <parameter> <rule> (got <value>)".
template <class T>
[[noreturn]] void throw_invalid_argument(std::string_view component, std::string_view parameter,
                                         std::string_view rule, const T& value) {
  std::ostringstream out;
  out << component << ": " << parameter << ' ' << rule << " (got ";
  append_value(out, value);
  out << ')';
  throw invalid_argument(std::string(component), std::string(parameter), out.str());
}

// Throws scaling::invalid_argument with the message "<component>: <parameter> <rule>", for
// arguments whose value has no useful printed form.
[[noreturn]] inline void throw_invalid_argument(std::string_view component,
                                                std::string_view parameter, std::string_view rule) {
  std::string message;
  message.append(component).append(": ").append(parameter).append(" ").append(rule);
  throw invalid_argument(std::string(component), std::string(parameter), std::move(message));
}

}  // namespace detail
}  // namespace scaling
