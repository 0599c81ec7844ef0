// scaling/feed.hpp: the feed area in one include.
//
// What it is: `feed_service` (home timelines with fan-out on read, on write, hybrid and
// per-pair policies) and `generate_twitter_graph` (a seeded follow graph shaped like
// Twitter's).
// When to pick it: quick starts; include the individual headers to keep compile times down.
//
//   #include <scaling/feed.hpp>
//   scaling::feed_service<scaling::hybrid_fan_out> feed{{.celebrity_threshold = 10'000}};
//
// Thread safety and complexity: see each header.
#pragma once

#include <scaling/feed/feed_service.hpp>
#include <scaling/feed/twitter_graph.hpp>
