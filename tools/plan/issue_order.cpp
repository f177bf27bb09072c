#include "tools/plan/issue_order.h"

namespace tensorpar::plan {

IssueOrderCommunicator::IssueOrderCommunicator(std::shared_ptr<Communicator> inner,
                                               const kernels::OpRecorder& ops,
                                               std::shared_ptr<std::vector<std::size_t>> positions)
    : inner_(std::move(inner)), ops_(ops), positions_(std::move(positions)) {}

std::shared_ptr<Communicator> IssueOrderCommunicator::wrap(
    std::shared_ptr<Communicator> inner) const {
  return std::make_shared<IssueOrderCommunicator>(std::move(inner), ops_, positions_);
}

WorkPtr IssueOrderCommunicator::do_all_reduce(Tensor& tensor, const AllReduceOptions& opts) {
  note();
  return inner_->all_reduce(tensor, opts);
}

WorkPtr IssueOrderCommunicator::do_all_gather(Tensor& output, const Tensor& input,
                                              const AllGatherOptions& opts) {
  note();
  return inner_->all_gather(output, input, opts);
}

WorkPtr IssueOrderCommunicator::do_reduce_scatter(Tensor& output, const Tensor& input,
                                                  const ReduceScatterOptions& opts) {
  note();
  return inner_->reduce_scatter(output, input, opts);
}

WorkPtr IssueOrderCommunicator::do_all_to_all(Tensor& output, const Tensor& input,
                                              const AllToAllOptions& opts) {
  note();
  return inner_->all_to_all(output, input, opts);
}

WorkPtr IssueOrderCommunicator::do_broadcast(Tensor& tensor, const BroadcastOptions& opts) {
  note();
  return inner_->broadcast(tensor, opts);
}

WorkPtr IssueOrderCommunicator::do_scatter(Tensor& output, const Tensor& input,
                                           const ScatterOptions& opts) {
  note();
  return inner_->scatter(output, input, opts);
}

WorkPtr IssueOrderCommunicator::do_send(const Tensor& tensor, int dst,
                                        const PointToPointOptions& opts) {
  note();
  return inner_->send(tensor, dst, opts);
}

WorkPtr IssueOrderCommunicator::do_recv(Tensor& tensor, int src, const PointToPointOptions& opts) {
  note();
  return inner_->recv(tensor, src, opts);
}

WorkPtr IssueOrderCommunicator::do_barrier(const BarrierOptions& opts) {
  note();
  return inner_->barrier(opts);
}

std::shared_ptr<Communicator> IssueOrderCommunicator::do_split(int color, int key) {
  return wrap(inner_->split(color, key));
}

std::shared_ptr<Communicator> IssueOrderCommunicator::do_subgroup(
    const std::vector<std::vector<int>>& groups, int, int) {
  return wrap(inner_->subgroup(groups));
}

}  // namespace tensorpar::plan
