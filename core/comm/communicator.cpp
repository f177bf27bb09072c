#include "core/comm/communicator.h"

#include <algorithm>
#include <set>
#include <sstream>

#include "core/comm/comm_debug_mode.h"
#include "core/base/error.h"
#include "core/comm/profiler.h"

namespace tensorpar {

std::string_view collective_name(CollectiveKind kind) {
  switch (kind) {
    case CollectiveKind::AllReduce:
      return "all_reduce";
    case CollectiveKind::AllGather:
      return "all_gather";
    case CollectiveKind::ReduceScatter:
      return "reduce_scatter";
    case CollectiveKind::AllToAll:
      return "all_to_all";
    case CollectiveKind::Broadcast:
      return "broadcast";
    case CollectiveKind::Scatter:
      return "scatter";
    case CollectiveKind::Send:
      return "send";
    case CollectiveKind::Recv:
      return "recv";
    case CollectiveKind::Barrier:
      return "barrier";
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
//   "all_gather: output has 10 elements but needs 3 x 4 = 12 (input has 4) (group [0, 1, 2])"
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
  void timeout(const std::optional<Milliseconds>& timeout) const {
    require(!timeout || timeout->count() >= 0, "timeout must be >= 0 ms, got ",
            timeout ? timeout->count() : 0, " ms");
  }
  void defined(const Tensor& t, const char* name) const {
    require(t.defined(), name, " is undefined");
  }
  void same_dtype(const Tensor& output, const Tensor& input) const {
    require(output.dtype() == input.dtype(), "output dtype ", dtype_name(output.dtype()),
            " differs from input dtype ", dtype_name(input.dtype()));
  }
  void root(int root) const {
    require(root >= 0 && root < comm_.size(), "root ", root,
            " is out of range for a group of size ", comm_.size());
  }
  void peer(int peer, const char* name) const {
    require(peer >= 0 && peer < comm_.size(), name, " ", peer,
            " is out of range for a group of size ", comm_.size());
    require(peer != comm_.rank(), name, " ", peer, " is this rank itself");
  }
  // Output and input may not overlap, except that the smaller may be exactly block
  // `allowed_block` of the larger one (in-place all_gather / reduce_scatter, as in PyTorch).
  void no_overlap(const Tensor& a, std::int64_t a_numel, const Tensor& b, std::int64_t b_numel,
                  std::int64_t allowed_block) const {
    const std::size_t elem = dtype_size(a.dtype());
    const std::size_t a_bytes = a_numel * elem, b_bytes = b_numel * elem;
    if (a_bytes == 0 || b_bytes == 0) return;
    auto* a0 = static_cast<const char*>(a.device_data());
    auto* b0 = static_cast<const char*>(b.device_data());
    if (allowed_block >= 0) {
      // The smaller buffer may be exactly block `allowed_block` of the larger one.
      const bool a_larger = a_bytes > b_bytes;
      const char* block = (a_larger ? a0 : b0) + allowed_block * (a_larger ? b_bytes : a_bytes);
      if ((a_larger ? b0 : a0) == block) return;
    }
    bool overlap = a0 < b0 + b_bytes && b0 < a0 + a_bytes;
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

// Issues a collective through `issue`, timed for the profiler (core/profiler.h) to completion:
// while a recorder is active the Work is waited for here (a failure stays in the Work for the
// caller's wait(), which rethrows it again). Not send/recv: a send waited for before the
// matching recv is posted could deadlock an asynchronous backend.
template <class Issue>
WorkPtr profiled(CollectiveKind kind, std::int64_t bytes, Issue&& issue) {
  profiler::RecordEvent event(collective_name(kind), profiler::Category::Collective, bytes);
  WorkPtr work = issue();
  const bool point_to_point = kind == CollectiveKind::Send || kind == CollectiveKind::Recv;
  if (event.active() && work && !point_to_point) {
    try {
      work->wait();
    } catch (...) {
    }
  }
  return work;
}

std::int64_t bytes_of(const Tensor& t, std::int64_t numel) {
  return numel * static_cast<std::int64_t>(dtype_size(t.dtype()));
}

}  // namespace

WorkPtr Communicator::all_reduce(Tensor& tensor, const AllReduceOptions& opts) {
  ArgCheck check(*this, CollectiveKind::AllReduce);
  check.timeout(opts.timeout);
  check.defined(tensor, "tensor");
  const std::int64_t bytes = bytes_of(tensor, tensor.numel());
  record(*this, CollectiveKind::AllReduce, bytes, opts.op);
  return profiled(CollectiveKind::AllReduce, bytes, [&] { return do_all_reduce(tensor, opts); });
}

WorkPtr Communicator::all_gather(Tensor& output, const Tensor& input,
                                 const AllGatherOptions& opts) {
  ArgCheck check(*this, CollectiveKind::AllGather);
  check.timeout(opts.timeout);
  check.defined(output, "output");
  check.defined(input, "input");
  check.same_dtype(output, input);
  const std::int64_t out_n = output.numel(), in_n = input.numel();
  check.require(out_n == size() * in_n, "output has ", out_n, " elements but needs ", size(), " x ",
                in_n, " = ", size() * in_n, " (input has ", in_n, ")");
  check.no_overlap(output, out_n, input, in_n, rank());
  const std::int64_t bytes = bytes_of(output, out_n);
  record(*this, CollectiveKind::AllGather, bytes);
  return profiled(CollectiveKind::AllGather, bytes,
                  [&] { return do_all_gather(output, input, opts); });
}

WorkPtr Communicator::reduce_scatter(Tensor& output, const Tensor& input,
                                     const ReduceScatterOptions& opts) {
  ArgCheck check(*this, CollectiveKind::ReduceScatter);
  check.timeout(opts.timeout);
  check.defined(output, "output");
  check.defined(input, "input");
  check.same_dtype(output, input);
  const std::int64_t out_n = output.numel(), in_n = input.numel();
  check.require(in_n == size() * out_n, "input has ", in_n, " elements but needs ", size(), " x ",
                out_n, " = ", size() * out_n, " (output has ", out_n, ")");
  check.no_overlap(output, out_n, input, in_n, rank());
  const std::int64_t bytes = bytes_of(input, in_n);
  record(*this, CollectiveKind::ReduceScatter, bytes, opts.op);
  return profiled(CollectiveKind::ReduceScatter, bytes,
                  [&] { return do_reduce_scatter(output, input, opts); });
}

WorkPtr Communicator::all_to_all(Tensor& output, const Tensor& input, const AllToAllOptions& opts) {
  ArgCheck check(*this, CollectiveKind::AllToAll);
  check.timeout(opts.timeout);
  check.defined(output, "output");
  check.defined(input, "input");
  check.same_dtype(output, input);
  const std::int64_t out_n = output.numel(), in_n = input.numel();
  check.require(out_n == in_n, "output has ", out_n, " elements but input has ", in_n);
  check.require(in_n % size() == 0, "input has ", in_n, " elements, not divisible into ", size(),
                " blocks");
  check.no_overlap(output, out_n, input, in_n, -1);
  const std::int64_t bytes = bytes_of(input, in_n);
  record(*this, CollectiveKind::AllToAll, bytes);
  return profiled(CollectiveKind::AllToAll, bytes,
                  [&] { return do_all_to_all(output, input, opts); });
}

WorkPtr Communicator::broadcast(Tensor& tensor, const BroadcastOptions& opts) {
  ArgCheck check(*this, CollectiveKind::Broadcast);
  check.timeout(opts.timeout);
  check.defined(tensor, "tensor");
  check.root(opts.root);
  const std::int64_t bytes = bytes_of(tensor, tensor.numel());
  record(*this, CollectiveKind::Broadcast, bytes);
  return profiled(CollectiveKind::Broadcast, bytes, [&] { return do_broadcast(tensor, opts); });
}

WorkPtr Communicator::scatter(Tensor& output, const Tensor& input, const ScatterOptions& opts) {
  ArgCheck check(*this, CollectiveKind::Scatter);
  check.timeout(opts.timeout);
  check.defined(output, "output");
  check.root(opts.root);
  const std::int64_t out_n = output.numel();
  if (rank() == opts.root) {
    check.defined(input, "input (on the root)");
    check.same_dtype(output, input);
    const std::int64_t in_n = input.numel();
    check.require(in_n == size() * out_n, "input has ", in_n, " elements but needs ", size(), " x ",
                  out_n, " = ", size() * out_n, " (output has ", out_n, ")");
    check.no_overlap(output, out_n, input, in_n, rank());
  }
  const std::int64_t bytes = size() * bytes_of(output, out_n);
  record(*this, CollectiveKind::Scatter, bytes);
  return profiled(CollectiveKind::Scatter, bytes, [&] { return do_scatter(output, input, opts); });
}

WorkPtr Communicator::send(const Tensor& tensor, int dst, const PointToPointOptions& opts) {
  ArgCheck check(*this, CollectiveKind::Send);
  check.timeout(opts.timeout);
  check.defined(tensor, "tensor");
  check.peer(dst, "dst");
  const std::int64_t bytes = bytes_of(tensor, tensor.numel());
  record(*this, CollectiveKind::Send, bytes);
  return profiled(CollectiveKind::Send, bytes, [&] { return do_send(tensor, dst, opts); });
}

WorkPtr Communicator::recv(Tensor& tensor, int src, const PointToPointOptions& opts) {
  ArgCheck check(*this, CollectiveKind::Recv);
  check.timeout(opts.timeout);
  check.defined(tensor, "tensor");
  check.peer(src, "src");
  const std::int64_t bytes = bytes_of(tensor, tensor.numel());
  record(*this, CollectiveKind::Recv, bytes);
  return profiled(CollectiveKind::Recv, bytes, [&] { return do_recv(tensor, src, opts); });
}

WorkPtr Communicator::barrier(const BarrierOptions& opts) {
  ArgCheck(*this, CollectiveKind::Barrier).timeout(opts.timeout);
  record(*this, CollectiveKind::Barrier, 0);
  return profiled(CollectiveKind::Barrier, 0, [&] { return do_barrier(opts); });
}

std::shared_ptr<Communicator> Communicator::split(int color, int key) {
  auto result = do_split(color, key);
  return color < 0 ? nullptr : result;
}

std::shared_ptr<Communicator> Communicator::do_subgroup(const std::vector<std::vector<int>>&,
                                                      int color, int key) {
  return split(color, key);
}

std::shared_ptr<Communicator> Communicator::subgroup(const std::vector<std::vector<int>>& groups) {
  std::set<int> seen;
  int color = -1;
  int key = 0;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    check_arg(!groups[g].empty(), "subgroup: group ", g, " of the partition is empty (", describe(),
              ")");
    for (std::size_t i = 0; i < groups[g].size(); ++i) {
      int r = groups[g][i];
      check_arg(r >= 0 && r < size(), "subgroup: rank ", r, " is out of range for a group of size ",
                size(), " (", describe(), ")");
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
  auto comm = do_subgroup(groups, color, key);
  subgroups_.emplace(groups, comm);
  return comm;
}

}  // namespace tensorpar
