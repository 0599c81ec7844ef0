// scaling/scaling.hpp: the whole library in one include.
//
// Convenient for examples and prototypes; production code should include the one header per
// component it uses (see the header table in README.md), which keeps builds fast.
#pragma once

#include <scaling/core.hpp>
