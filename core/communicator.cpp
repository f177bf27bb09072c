#include "core/communicator.h"

#include <algorithm>
#include <set>
#include <sstream>

#include "core/comm_debug_mode.h"
#include "core/error.h"

namespace tensorpar {

std::string_view collective_name(CollectiveKind kind) {
  switch (kind) {
    case CollectiveKind::AllReduce: return "all_reduce";
    case CollectiveKind::AllGather: return "all_gather";
    case CollectiveKind::ReduceScatter: return "reduce_scatter";
    case CollectiveKind::AllToAll: return "all_to_all";
    case CollectiveKind::Broadcast: return "broadcast";
    case CollectiveKind::Scatter: return "scatter";
    case CollectiveKind::Send: return "send";
    case CollectiveKind::Recv: return "recv";
    case CollectiveKind::Barrier: return "barrier";
  }
  return "unknown collective";
}

std::string Communicator::describe() const {
  std::ostringstream os;
  os << "group [";
  const auto& ranks = global_ranks();
  for (std::size_t i = 0; i < ranks.size(); ++i) os << (i ? ", " : "") << ranks[i];
  os << "]";
  return os.str();
}

namespace {

// Argument checks shared by the collectives. Every message names the collective, the argument,
// the offending values and the group:
//   "all_gather: output has 10 elements but group [0, 1, 2] needs 3 x 4 = 12 (input has 4)"
class ArgCheck {
 public:
  ArgCheck(const Communicator& comm, CollectiveKind kind) : comm_(comm), kind_(kind) {}

  template <class... Args>
  void require(bool condition, const Args&... args) const {
    if (!condition) {
      throw std::invalid_argument(
          cat(collective_name(kind_), ": ", args..., " (", comm_.describe(), ")"));
    }
  }
  void defined(const Tensor& t, const char* name) const {
    require(t.defined(), name, " is undefined");
  }
  void same_dtype(const Tensor& output, const Tensor& input) const {
    require(output.dtype() == input.dtype(), "output dtype ", dtype_name(output.dtype()),
            " differs from input dtype ", dtype_name(input.dtype()));
  }
  void root(int root) const {
    require(root >= 0 && root < comm_.size(), "root ", root, " is out of range for a group of size ",
            comm_.size());
  }
  void peer(int peer, const char* name) const {
    require(peer >= 0 && peer < comm_.size(), name, " ", peer,
            " is out of range for a group of size ", comm_.size());
    require(peer != comm_.rank(), name, " ", peer, " is this rank itself");
  }
  // Output and input may not overlap, except `allowed_alias`: the block of the larger buffer that
  // the smaller one may be exactly (in-place all_gather / reduce_scatter, as in PyTorch).
  void no_overlap(const Tensor& a, const Tensor& b, const void* allowed_alias) const {
    if (a.nbytes() == 0 || b.nbytes() == 0) return;
    auto* a0 = static_cast<const char*>(a.data_ptr());
    auto* b0 = static_cast<const char*>(b.data_ptr());
    if (allowed_alias && (a0 == allowed_alias || b0 == allowed_alias)) return;
    bool overlap = a0 < b0 + b.nbytes() && b0 < a0 + a.nbytes();
    require(!overlap, "output and input overlap in memory");
  }

 private:
  const Communicator& comm_;
  CollectiveKind kind_;
};

void record(const Communicator& comm, CollectiveKind kind, std::int64_t bytes,
            ReduceOp op = ReduceOp::Sum) {
  if (!CommDebugMode::active()) return;
  CommDebugMode::record(CollectiveRecord{kind, bytes, comm.global_ranks(), op});
}

std::int64_t bytes_of(const Tensor& t) { return static_cast<std::int64_t>(t.nbytes()); }

}  // namespace

WorkPtr Communicator::all_reduce(Tensor& tensor, const AllReduceOptions& opts) {
  ArgCheck check(*this, CollectiveKind::AllReduce);
  check.defined(tensor, "tensor");
  record(*this, CollectiveKind::AllReduce, bytes_of(tensor), opts.op);
  return do_all_reduce(tensor, opts);
}

WorkPtr Communicator::all_gather(Tensor& output, const Tensor& input,
                                 const AllGatherOptions& opts) {
  ArgCheck check(*this, CollectiveKind::AllGather);
  check.defined(output, "output");
  check.defined(input, "input");
  check.same_dtype(output, input);
  check.require(output.numel() == size() * input.numel(), "output has ", output.numel(),
                " elements but needs ", size(), " x ", input.numel(), " = ",
                size() * input.numel(), " (input has ", input.numel(), ")");
  const char* own_block = static_cast<const char*>(output.data_ptr()) + rank() * input.nbytes();
  check.no_overlap(output, input, own_block);
  record(*this, CollectiveKind::AllGather, bytes_of(output));
  return do_all_gather(output, input, opts);
}

WorkPtr Communicator::reduce_scatter(Tensor& output, const Tensor& input,
                                     const ReduceScatterOptions& opts) {
  ArgCheck check(*this, CollectiveKind::ReduceScatter);
  check.defined(output, "output");
  check.defined(input, "input");
  check.same_dtype(output, input);
  check.require(input.numel() == size() * output.numel(), "input has ", input.numel(),
                " elements but needs ", size(), " x ", output.numel(), " = ",
                size() * output.numel(), " (output has ", output.numel(), ")");
  const char* own_block = static_cast<const char*>(input.data_ptr()) + rank() * output.nbytes();
  check.no_overlap(output, input, own_block);
  record(*this, CollectiveKind::ReduceScatter, bytes_of(input), opts.op);
  return do_reduce_scatter(output, input, opts);
}

WorkPtr Communicator::all_to_all(Tensor& output, const Tensor& input,
                                 const AllToAllOptions& opts) {
  ArgCheck check(*this, CollectiveKind::AllToAll);
  check.defined(output, "output");
  check.defined(input, "input");
  check.same_dtype(output, input);
  check.require(output.numel() == input.numel(), "output has ", output.numel(),
                " elements but input has ", input.numel());
  check.require(input.numel() % size() == 0, "input has ", input.numel(),
                " elements, not divisible into ", size(), " blocks");
  check.no_overlap(output, input, nullptr);
  record(*this, CollectiveKind::AllToAll, bytes_of(input));
  return do_all_to_all(output, input, opts);
}

WorkPtr Communicator::broadcast(Tensor& tensor, const BroadcastOptions& opts) {
  ArgCheck check(*this, CollectiveKind::Broadcast);
  check.defined(tensor, "tensor");
  check.root(opts.root);
  record(*this, CollectiveKind::Broadcast, bytes_of(tensor));
  return do_broadcast(tensor, opts);
}

WorkPtr Communicator::scatter(Tensor& output, const Tensor& input, const ScatterOptions& opts) {
  ArgCheck check(*this, CollectiveKind::Scatter);
  check.defined(output, "output");
  check.root(opts.root);
  if (rank() == opts.root) {
    check.defined(input, "input (on the root)");
    check.same_dtype(output, input);
    check.require(input.numel() == size() * output.numel(), "input has ", input.numel(),
                  " elements but needs ", size(), " x ", output.numel(), " = ",
                  size() * output.numel(), " (output has ", output.numel(), ")");
    const char* own_block =
        static_cast<const char*>(input.data_ptr()) + rank() * output.nbytes();
    check.no_overlap(output, input, own_block);
  }
  record(*this, CollectiveKind::Scatter, size() * bytes_of(output));
  return do_scatter(output, input, opts);
}

WorkPtr Communicator::send(const Tensor& tensor, int dst, const PointToPointOptions& opts) {
  ArgCheck check(*this, CollectiveKind::Send);
  check.defined(tensor, "tensor");
  check.peer(dst, "dst");
  record(*this, CollectiveKind::Send, bytes_of(tensor));
  return do_send(tensor, dst, opts);
}

WorkPtr Communicator::recv(Tensor& tensor, int src, const PointToPointOptions& opts) {
  ArgCheck check(*this, CollectiveKind::Recv);
  check.defined(tensor, "tensor");
  check.peer(src, "src");
  record(*this, CollectiveKind::Recv, bytes_of(tensor));
  return do_recv(tensor, src, opts);
}

WorkPtr Communicator::barrier(const BarrierOptions& opts) {
  record(*this, CollectiveKind::Barrier, 0);
  return do_barrier(opts);
}

std::shared_ptr<Communicator> Communicator::split(int color, int key) {
  auto result = do_split(color, key);
  return color < 0 ? nullptr : result;
}

std::shared_ptr<Communicator> Communicator::subgroup(
    const std::vector<std::vector<int>>& groups) {
  std::set<int> seen;
  int color = -1;
  int key = 0;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    check_arg(!groups[g].empty(), "subgroup: group ", g, " of the partition is empty (",
              describe(), ")");
    for (std::size_t i = 0; i < groups[g].size(); ++i) {
      int r = groups[g][i];
      check_arg(r >= 0 && r < size(), "subgroup: rank ", r,
                " is out of range for a group of size ", size(), " (", describe(), ")");
      check_arg(seen.insert(r).second, "subgroup: rank ", r,
                " appears more than once in the partition (", describe(), ")");
      if (r == rank()) {
        color = static_cast<int>(g);
        key = static_cast<int>(i);
      }
    }
  }
  std::lock_guard<std::mutex> lock(subgroup_mutex_);
  auto it = subgroups_.find(groups);
  if (it != subgroups_.end()) return it->second;
  auto comm = split(color, key);
  subgroups_.emplace(groups, comm);
  return comm;
}

}  // namespace tensorpar
