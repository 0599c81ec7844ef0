// A user's program: it only includes the umbrella header and checks one known answer, so a
// packaging mistake (missing header, missing dependency, wrong include path) fails the build
// or the run.
#include <cstdio>
#include <string_view>

#include <scaling/scaling.hpp>

int main() {
  const scaling::hash<std::string_view> hash;
  // XXH3_64bits of the empty input (xxHash's own test vector).
  if (hash("") != 0x2d06800538d394c2ULL) {
    std::puts("consumer: unexpected hash value");
    return 1;
  }
  std::printf("consumer: scaling %d.%d.%d works\n", SCALING_VERSION_MAJOR, SCALING_VERSION_MINOR,
              SCALING_VERSION_PATCH);
  return 0;
}
