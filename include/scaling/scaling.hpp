// scaling/scaling.hpp: the whole library in one include.
//
// Convenient for examples and prototypes; production code should include the one header per
// component it uses (see the header table in README.md), which keeps builds fast. The Asio
// integration (scaling/asio/...) and the PostgreSQL adapter (scaling/replication/postgres.hpp,
// which needs libpq) are not included here: include them where you use them.
#pragma once

#include <scaling/advisor.hpp>
#include <scaling/architecture.hpp>
#include <scaling/caching.hpp>
#include <scaling/cdn.hpp>
#include <scaling/core.hpp>
#include <scaling/feed.hpp>
#include <scaling/lab.hpp>
#include <scaling/queueing.hpp>
#include <scaling/replication.hpp>
#include <scaling/sharding.hpp>
