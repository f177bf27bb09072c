#pragma once
#include "sim/world.h"
