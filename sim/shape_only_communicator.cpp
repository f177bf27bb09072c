#include "sim/shape_only_communicator.h"

#include "core/base/error.h"

namespace tensorpar::sim {

namespace {

std::int64_t bytes_of(const Tensor& t) { return static_cast<std::int64_t>(t.nbytes()); }

}  // namespace

ShapeOnlyCommunicator::ShapeOnlyCommunicator(std::vector<int> global_ranks, int rank,
                                             std::shared_ptr<CollectiveLog> log)
    : global_ranks_(std::move(global_ranks)), rank_(rank), log_(std::move(log)) {
  check_arg(!global_ranks_.empty(), "ShapeOnlyCommunicator: the group is empty");
  check_arg(rank_ >= 0 && rank_ < size(), "ShapeOnlyCommunicator: rank ", rank_,
            " is out of range for a group of size ", size());
  check_arg(log_ != nullptr, "ShapeOnlyCommunicator: log is null");
}

WorkPtr ShapeOnlyCommunicator::done(CollectiveKind kind, std::int64_t bytes, ReduceOp op) {
  CollectiveRecord record{kind, bytes, global_ranks_, op, current_comm_phase(), ""};
  if (const std::string* module = current_comm_module()) record.module = *module;
  log_->push_back(std::move(record));
  return std::make_shared<CompletedWork>();
}

// Bytes as CommDebugMode counts them (comm_debug_mode.h): the buffer of all_reduce, broadcast,
// all_to_all and send/recv, the gathered output of all_gather, the input of reduce_scatter, the
// root's whole input of scatter.
WorkPtr ShapeOnlyCommunicator::do_all_reduce(Tensor& tensor, const AllReduceOptions& opts) {
  return done(CollectiveKind::AllReduce, bytes_of(tensor), opts.op);
}

WorkPtr ShapeOnlyCommunicator::do_all_gather(Tensor& output, const Tensor&,
                                             const AllGatherOptions&) {
  return done(CollectiveKind::AllGather, bytes_of(output));
}

WorkPtr ShapeOnlyCommunicator::do_reduce_scatter(Tensor&, const Tensor& input,
                                                 const ReduceScatterOptions& opts) {
  return done(CollectiveKind::ReduceScatter, bytes_of(input), opts.op);
}

WorkPtr ShapeOnlyCommunicator::do_all_to_all(Tensor&, const Tensor& input, const AllToAllOptions&) {
  return done(CollectiveKind::AllToAll, bytes_of(input));
}

WorkPtr ShapeOnlyCommunicator::do_broadcast(Tensor& tensor, const BroadcastOptions&) {
  return done(CollectiveKind::Broadcast, bytes_of(tensor));
}

WorkPtr ShapeOnlyCommunicator::do_scatter(Tensor& output, const Tensor&, const ScatterOptions&) {
  return done(CollectiveKind::Scatter, size() * bytes_of(output));
}

WorkPtr ShapeOnlyCommunicator::do_send(const Tensor& tensor, int, const PointToPointOptions&) {
  return done(CollectiveKind::Send, bytes_of(tensor));
}

WorkPtr ShapeOnlyCommunicator::do_recv(Tensor& tensor, int, const PointToPointOptions&) {
  return done(CollectiveKind::Recv, bytes_of(tensor));
}

WorkPtr ShapeOnlyCommunicator::do_barrier(const BarrierOptions&) {
  return done(CollectiveKind::Barrier, 0);
}

std::shared_ptr<Communicator> ShapeOnlyCommunicator::do_split(int color, int key) {
  throw CommError(cat("split(color ", color, ", key ", key,
                      "): a shape-only rank never sees the other ranks' colors; build groups "
                      "with subgroup(partition), as DeviceMesh does (",
                      describe(), ")"));
}

std::shared_ptr<Communicator> ShapeOnlyCommunicator::do_subgroup(
    const std::vector<std::vector<int>>& groups, int color, int key) {
  if (color < 0) return nullptr;
  std::vector<int> members;
  for (int r : groups[static_cast<std::size_t>(color)]) {
    members.push_back(global_ranks_[static_cast<std::size_t>(r)]);
  }
  return std::make_shared<ShapeOnlyCommunicator>(std::move(members), key, log_);
}

}  // namespace tensorpar::sim
