// scaling/advisor.hpp: the capacity model (cache hit ratios, queues and replicas, shards and
// growth, the Universal Scalability Law) and the advisor that answers the seed's four
// questions from a workload description. Pure computation, no I/O: tools/scaling_advisor
// prints it.
#pragma once

#include <scaling/advisor/advise.hpp>
#include <scaling/advisor/cache_model.hpp>
#include <scaling/advisor/node_figures.hpp>
#include <scaling/advisor/queue_model.hpp>
#include <scaling/advisor/shard_model.hpp>
#include <scaling/advisor/stage_model.hpp>
#include <scaling/advisor/usl.hpp>
