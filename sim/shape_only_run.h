#pragma once
// Shape-only runs: a function of the rank run as in sim::run, but over the meta device and the
// shape-only communicator (docs/shape_only.md), so that nothing is computed or moved and each
// rank's work is read off instead:
//
//   auto ranks = sim::run_shape_only(512, [&](int rank, sim::ShapeOnlyRecording& rec) {
//     nn::Transformer model(args);               // parameters on meta: no memory, no draws
//     parallelize_transformer(model, DeviceMesh({512}), {});
//     rec.restart();                             // from here on: the step
//     rec.set_phase("forward");
//     Tensor loss = ...;
//   });
//   *ranks[7].ops;          // rank 7's kernel calls with FLOPs and bytes (kernels::OpRecord)
//   *ranks[7].collectives;  // its collectives in order (kind, bytes, group, op, phase, module)
//   ranks[7].peak_bytes;    // the meta allocator's high-water mark for rank 7

// Each rank runs on a thread of its own with the meta device as its current device, a
// ShapeOnlyCommunicator over the whole world as its current world, its own MetaMemory account
// and an OpRecorder. Ranks never meet, so they run `parallelism` at a time, not all at once.
//
// Representatives. Ranks whose local shapes and calls are the same (for an even sharding every
// rank of a 1-D tensor-parallel mesh: they differ only in their coordinate) need not all run:
// options.representative maps a rank to the rank whose run stands for it, and only ranks that
// represent themselves run. The caller vouches for the equivalence; the collectives' groups are
// copied too, so it holds only when the two ranks share their groups (a 1-D mesh over the world).
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "core/comm/comm_debug_mode.h"
#include "core/kernels/meta/op_record.h"
#include "core/tensor/meta_device.h"

namespace tensorpar::sim {

struct ShapeOnlyRank {
  int rank = 0;
  int represented_by = 0;  // the rank that ran for this one (itself unless options said otherwise)
  // Shared with the ranks this one represents, or that represent it.
  std::shared_ptr<const std::vector<kernels::OpRecord>> ops;
  std::shared_ptr<const std::vector<CollectiveRecord>> collectives;
  std::size_t peak_bytes = 0;  // the high-water mark of this rank's meta tensors (requested bytes)
  std::size_t end_bytes = 0;   // bytes of meta tensors still alive when the body returned
};

// What a rank's body can steer: the op recorder's phase label, and where recording starts.
class ShapeOnlyRecording {
 public:
  ShapeOnlyRecording(kernels::OpRecorder& ops, std::vector<CollectiveRecord>& collectives,
                     MetaMemory& memory)
      : ops_(ops), collectives_(collectives), memory_(memory) {}
  kernels::OpRecorder& ops() { return ops_; }
  // Stamps the op records that follow (collectives take their phase from CommPhaseScope).
  void set_phase(std::string phase) { ops_.set_phase(std::move(phase)); }
  // Forgets the ops and collectives recorded so far and restarts the memory high-water mark from
  // the bytes in use now: what follows (a training step after set-up) is what the run reports.
  void restart() {
    ops_.clear();
    collectives_.clear();
    memory_.reset_peak();
  }

 private:
  kernels::OpRecorder& ops_;
  std::vector<CollectiveRecord>& collectives_;
  MetaMemory& memory_;
};

struct ShapeOnlyOptions {
  // Rank threads alive at once; 0 means the machine's hardware threads.
  int parallelism = 0;
  // Empty: every rank runs. Otherwise representative(r) is the rank whose run stands for rank r,
  // and representative(representative(r)) == representative(r).
  std::function<int(int rank)> representative;
};

// Runs body(rank, recording) for the ranks of a world of world_size (1 <= world_size <= 65536) as
// described above and returns every rank's records in rank order. The first failure is rethrown
// as sim::RankFailure (world.h) naming the rank.
std::vector<ShapeOnlyRank> run_shape_only(
    int world_size, const std::function<void(int rank, ShapeOnlyRecording& rec)>& body,
    const ShapeOnlyOptions& options = {});

}  // namespace tensorpar::sim
