#pragma once
// Where each collective falls among the kernel calls of a shape-only run: a communicator that
// forwards every call to the rank's world (the shape-only communicator, which logs it) and notes,
// per call, how many kernel records the rank's OpRecorder held when it was issued.
//
//   auto positions = std::make_shared<std::vector<std::size_t>>();
//   WorldGuard g(std::make_shared<IssueOrderCommunicator>(current_world_ptr(), recorder,
//   positions));
//   ... kernels k0, k1, then an all_reduce, then k2 ...   // positions: {2}
//
// Subgroups (DeviceMesh's) are wrapped too and share `positions`, so positions[i] belongs to the
// i-th collective of the rank's log. Each call passes through two communicators' public methods,
// so a CommDebugMode active on the rank would count it twice: run_workload uses none.
#include <cstddef>
#include <memory>
#include <vector>

#include "core/comm/communicator.h"
#include "core/kernels/meta/op_record.h"

namespace tensorpar::plan {

class IssueOrderCommunicator final : public Communicator {
 public:
  IssueOrderCommunicator(std::shared_ptr<Communicator> inner, const kernels::OpRecorder& ops,
                         std::shared_ptr<std::vector<std::size_t>> positions);

  int rank() const override { return inner_->rank(); }
  int size() const override { return inner_->size(); }
  const std::vector<int>& global_ranks() const override { return inner_->global_ranks(); }
  std::string backend() const override { return inner_->backend(); }
  Milliseconds default_timeout() const override { return inner_->default_timeout(); }

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
  void note() { positions_->push_back(ops_.records().size()); }
  std::shared_ptr<Communicator> wrap(std::shared_ptr<Communicator> inner) const;

  std::shared_ptr<Communicator> inner_;
  const kernels::OpRecorder& ops_;
  std::shared_ptr<std::vector<std::size_t>> positions_;
};

}  // namespace tensorpar::plan
