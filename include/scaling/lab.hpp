// scaling/lab.hpp: the scaling lab, a discrete-event simulation on virtual time in which the
// library's blocks run while service and network time are simulated.
#pragma once

#include <scaling/lab/arrivals.hpp>
#include <scaling/lab/histogram.hpp>
#include <scaling/lab/network.hpp>
#include <scaling/lab/random.hpp>
#include <scaling/lab/simulation.hpp>
#include <scaling/lab/station.hpp>
#include <scaling/lab/workload.hpp>
