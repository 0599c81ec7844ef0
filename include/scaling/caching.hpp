// scaling/caching.hpp: the application-caching area in one include.
//
// What it is: the cache with every eviction and concurrency policy, the loaders (cache-aside,
// read-through with single-flight, write-through, write-behind, refresh-ahead, XFetch), the
// invalidation leases that keep loads from caching values older than a write, and the
// hit-ratio lab (trace readers, Belady's OPT, replay).
// When to pick it: quick starts; include the individual headers to keep compile times down.
//
//   #include <scaling/caching.hpp>
//   scaling::cache<std::string, int, scaling::w_tinylfu> c{1000};
//   c.put("k", 1);
//
// Thread safety and complexity: see each header.
#pragma once

#include <scaling/caching/cache.hpp>
#include <scaling/caching/cache_aside.hpp>
#include <scaling/caching/invalidation.hpp>
#include <scaling/caching/loading_cache.hpp>
#include <scaling/caching/refresh_ahead.hpp>
#include <scaling/caching/replay.hpp>
#include <scaling/caching/single_flight.hpp>
#include <scaling/caching/trace.hpp>
#include <scaling/caching/write_behind.hpp>
#include <scaling/caching/xfetch.hpp>
