#pragma once
#include "core/ops/op.h"
