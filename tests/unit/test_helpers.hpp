// Kept for the test files other helpers edit now (issue 27): include
// fixtures.hpp instead; remove this header once none includes it.
#pragma once

#include "fixtures.hpp"
