// libFuzzer entry point for the HTTP caching header parsers (built with clang and
// -DSCALING_FUZZ=ON; see tests/cdn/CMakeLists.txt). Run:
//   build/fuzz/tests/cdn/header_fuzzer tests/cdn/fuzz/corpus -max_total_time=60
#include "header_fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  scaling_fuzz::parse_headers_once(data, size);
  return 0;
}
