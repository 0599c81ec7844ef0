// scaling/sharding.hpp: every sharding strategy (rings, jump, rendezvous, Maglev, bounded loads,
// Redis Cluster slots, key ranges, logical shards, sharded ids, migration plans).
#pragma once

#include <scaling/sharding/bounded_load.hpp>
#include <scaling/sharding/hash_ring.hpp>
#include <scaling/sharding/jump_hash.hpp>
#include <scaling/sharding/ketama_ring.hpp>
#include <scaling/sharding/logical_shards.hpp>
#include <scaling/sharding/maglev.hpp>
#include <scaling/sharding/migration.hpp>
#include <scaling/sharding/range_shards.hpp>
#include <scaling/sharding/redis_cluster.hpp>
#include <scaling/sharding/rendezvous.hpp>
#include <scaling/sharding/sharded_id.hpp>
#include <scaling/sharding/strategy.hpp>
