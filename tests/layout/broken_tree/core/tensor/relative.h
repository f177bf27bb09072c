#pragma once
#include "../ops/op.h"
