// scaling/replication.hpp: the database replication area (selector, policies, health,
// consistency, the embedded replicated store). The PostgreSQL adapter,
// <scaling/replication/postgres.hpp>, is not included: it needs libpq.
#pragma once

#include <scaling/replication/backup.hpp>
#include <scaling/replication/consistency.hpp>
#include <scaling/replication/health.hpp>
#include <scaling/replication/policies.hpp>
#include <scaling/replication/quorum_store.hpp>
#include <scaling/replication/replica.hpp>
#include <scaling/replication/replica_selector.hpp>
#include <scaling/replication/replicated_store.hpp>
