// scaling/core.hpp: everything in the core layer (config, errors, hash, clocks, stats).
#pragma once

#include <scaling/core/clock.hpp>
#include <scaling/core/config.hpp>
#include <scaling/core/deadline.hpp>
#include <scaling/core/error.hpp>
#include <scaling/core/hash.hpp>
#include <scaling/core/stats.hpp>
