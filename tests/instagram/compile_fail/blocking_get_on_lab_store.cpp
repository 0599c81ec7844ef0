// A quorum_store on lab time completes when the simulation runs, so it has no blocking get:
// calling one is rejected, naming the concept the transport lacks; async_get is the call.
#include <cstdint>

#include <scaling/architecture/quorum_replicas.hpp>

int main() {
  scaling::lab::simulation sim{1};
  scaling::architecture::lab_quorum_store<std::int64_t, int, int> db{
      {.nodes = 3}, scaling::architecture::lab_quorum_replicas{sim, {}}, sim.clock()};
  bool ok = false;
#ifdef SCALING_COMPILE_FAIL_CONTROL
  db.async_get(7, 0, {}, [&](const auto& r) { ok = r.ok(); });
  sim.run();
#else
  ok = db.get(7, 0).ok();
#endif
  return ok ? 0 : 1;
}
