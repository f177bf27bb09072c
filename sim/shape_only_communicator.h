#pragma once
// ShapeOnlyCommunicator: the communicator of a shape-only run (docs/shape_only.md). It moves
// nothing and completes every call at once: over meta tensors (core/tensor/meta_device.h) there
// is nothing to move, and the outputs already have their shapes. What it keeps is the sequence
// of calls: each collective is appended to the rank's log as a CollectiveRecord (kind, bytes in
// nccl-tests' convention, the group's global ranks, reduce op, the CommPhaseScope phase and the
// CommModuleScope module), exactly what CommDebugMode records for the same call on any backend,
// and the public Communicator methods feed CommDebugMode as they always do.
//
//   auto log = std::make_shared<sim::CollectiveLog>();
//   auto world = std::make_shared<sim::ShapeOnlyCommunicator>(std::vector{0, 1, 2, 3}, 2, log);
//   Tensor t = Tensor::empty({1024}, DType::Float32, meta_device());
//   world->all_reduce(t)->wait();     // log: {all_reduce, 4096 bytes, group [0, 1, 2, 3], sum}
//
// Ranks of a shape-only run never meet, so they need not run in lock-step, nor all at once
// (sim/shape_only_run.h). Two consequences:
//   - nothing is checked across ranks (the real sim's mismatch detection needs the peers), and
//     recv completes without a message;
//   - split(color, key) cannot learn the other ranks' colors and throws CommError; subgroup(),
//     which DeviceMesh uses, builds the group from the partition every rank passes.
// A rank's communicators (its world and every subgroup) share one log and are used from the
// rank's thread only.
#include <memory>
#include <vector>

#include "core/comm/comm_debug_mode.h"
#include "core/comm/communicator.h"

namespace tensorpar::sim {

// One rank's collectives in issue order.
using CollectiveLog = std::vector<CollectiveRecord>;

class ShapeOnlyCommunicator final : public Communicator {
 public:
  // global_ranks: the group's members as world ranks, in group order; rank: this rank's index in
  // it. log: where this rank's calls go (shared with its subgroups).
  ShapeOnlyCommunicator(std::vector<int> global_ranks, int rank,
                        std::shared_ptr<CollectiveLog> log);

  int rank() const override { return rank_; }
  int size() const override { return static_cast<int>(global_ranks_.size()); }
  const std::vector<int>& global_ranks() const override { return global_ranks_; }
  std::string backend() const override { return "shape_only"; }
  Milliseconds default_timeout() const override { return Milliseconds::max(); }
  const CollectiveLog& log() const { return *log_; }

 protected:
  WorkPtr do_all_reduce(Tensor& tensor, const AllReduceOptions& opts) override;
  WorkPtr do_all_gather(Tensor& output, const Tensor& input, const AllGatherOptions& opts) override;
  WorkPtr do_reduce_scatter(Tensor& output, const Tensor& input,
                            const ReduceScatterOptions& opts) override;
  WorkPtr do_all_to_all(Tensor& output, const Tensor& input, const AllToAllOptions& opts) override;
  WorkPtr do_broadcast(Tensor& tensor, const BroadcastOptions& opts) override;
  WorkPtr do_scatter(Tensor& output, const Tensor& input, const ScatterOptions& opts) override;
  WorkPtr do_send(const Tensor& tensor, int dst, const PointToPointOptions& opts) override;
  WorkPtr do_recv(Tensor& tensor, int src, const PointToPointOptions& opts) override;
  WorkPtr do_barrier(const BarrierOptions& opts) override;
  std::shared_ptr<Communicator> do_split(int color, int key) override;
  std::shared_ptr<Communicator> do_subgroup(const std::vector<std::vector<int>>& groups, int color,
                                            int key) override;

 private:
  // Appends the call to the log and returns a completed Work.
  WorkPtr done(CollectiveKind kind, std::int64_t bytes, ReduceOp op = ReduceOp::Sum);

  std::vector<int> global_ranks_;
  int rank_;
  std::shared_ptr<CollectiveLog> log_;
};

}  // namespace tensorpar::sim
