// libFuzzer entry point for the HTTP caching header parsers (built with clang and
// -DSCALING_FUZZ=ON, the `fuzz` preset; see tests/cdn/CMakeLists.txt). Run it with
// `scripts/fuzz [SECONDS]`, which fuzzes a copy of tests/cdn/fuzz/corpus; by hand,
//   build/fuzz/tests/cdn/header_fuzzer DIR -max_total_time=60
// fuzzes DIR and writes the new inputs into it.
#include "header_fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  scaling_fuzz::parse_headers_once(data, size);
  return 0;
}
