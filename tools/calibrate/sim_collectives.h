#pragma once
// The simulated backend's collectives as the Transformer plan issues them (all_reduce,
// all_gather, reduce_scatter of float32 buffers), timed on this machine over world sizes 1 to 4
// and buffers of 1 KiB to 16 MiB (quick: 4 KiB, 256 KiB and 4 MiB): a calibrated profile's
// CollectiveProfile::measured points, which the cost model interpolates instead of NCCL's
// formula (core/cost/collective_model.h).
//
// Bytes follow nccl-tests (the full buffer of all_reduce, the gathered output of all_gather, the
// input of reduce_scatter), rounded to a whole float per rank at every world size. The rank threads
// first work for 50 ms, so that the scheduler has spread them over the cores as it has a training
// run's (threads sharing a core pay a waiter's 20 us spin per collective). One sample:
// the ranks meet at a barrier, each calls the collective and waits; it took from the last rank's
// call to the last rank's completion. A point is the samples' lower quartile (stopwatch.h).
//   {all_reduce, ranks 2, bytes 1048576, seconds ~1e-4}: a 1 MiB all_reduce over 2 rank threads
#include <vector>

#include "core/cost/hardware.h"

namespace tensorpar::calibrate {

std::vector<cost::MeasuredCollective> measure_sim_collectives(bool quick);

}  // namespace tensorpar::calibrate
