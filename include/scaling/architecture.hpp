// scaling/architecture.hpp: the blocks composed into the seed's four stages (roles as concepts,
// the stage compositions, the lab's scenarios and each stage's predicted capacity).
#pragma once

#include <scaling/architecture/capacity.hpp>
#include <scaling/architecture/load_balanced.hpp>
#include <scaling/architecture/object_response.hpp>
#include <scaling/architecture/partitioned_system.hpp>
#include <scaling/architecture/queue_consumers.hpp>
#include <scaling/architecture/quorum_replicas.hpp>
#include <scaling/architecture/read_through.hpp>
#include <scaling/architecture/remote_cache.hpp>
#include <scaling/architecture/replicated.hpp>
#include <scaling/architecture/roles.hpp>
#include <scaling/architecture/scenario.hpp>
#include <scaling/architecture/service_system.hpp>
#include <scaling/architecture/serving.hpp>
#include <scaling/architecture/web_system.hpp>
