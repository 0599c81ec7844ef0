// scaling/cdn.hpp: the CDN layer: HTTP caching rules, the edge cache, tiers and POP routing.
#pragma once

#include <scaling/cdn/cache_control.hpp>
#include <scaling/cdn/cdn_network.hpp>
#include <scaling/cdn/edge_cache.hpp>
#include <scaling/cdn/edge_options.hpp>
#include <scaling/cdn/edge_request.hpp>
#include <scaling/cdn/http_date.hpp>
#include <scaling/cdn/http_response.hpp>
#include <scaling/cdn/origin.hpp>
#include <scaling/cdn/tiers.hpp>
#include <scaling/cdn/versioned_url.hpp>
