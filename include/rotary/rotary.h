// The whole public API of rotary.
#pragma once

#include "rotary/array.h"
#include "rotary/context_parallel.h"
#include "rotary/cuda.h"
#include "rotary/dtype.h"
#include "rotary/fast.h"
#include "rotary/frequencies.h"
#include "rotary/fused.h"
#include "rotary/nn.h"
#include "rotary/rope.h"
#include "rotary/tensor_view.h"
#include "rotary/scaling.h"
#include "rotary/nn_scaling.h"
#include "rotary/config.h"
