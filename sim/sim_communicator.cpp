#include "sim/sim_communicator.h"

#include <algorithm>
#include <cstring>
#include <span>
#include <utility>

#include "core/base/error.h"
#include "sim/group.h"
#include "core/tensor/device_interface.h"

namespace tensorpar::sim {

struct SimCommunicator::Call {
  Descriptor desc;
  Milliseconds timeout;
  bool small = true;                 // one phase through staging; false: zero-copy, two phases
  const std::byte* src = nullptr;    // published for zero-copy pulls
  std::byte* dst = nullptr;          // published for zero-copy pushes (all_reduce)
  std::span<const std::byte> stage;  // copied to staging on the small path
  int color = 0;
  int key = 0;
};

namespace {

template <class F>
WorkPtr complete(F&& f) {
  try {
    f();
    return std::make_shared<CompletedWork>();
  } catch (...) {
    return std::make_shared<CompletedWork>(std::current_exception());
  }
}

// Tensors are reached through their device's interface only (device_interface.h): on the CPU
// that is memcpy and the tiled host reduction, on another device its own copies and kernels. The
// one-phase staged path copies through host memory, so it is for host devices only.
std::byte* bytes_of(Tensor& t) { return static_cast<std::byte*>(t.device_data()); }
const std::byte* bytes_of(const Tensor& t) { return static_cast<const std::byte*>(t.device_data()); }

DeviceInterface& memory_of(const Tensor& t) { return device_interface(t.device().type); }

void copy(DeviceInterface& memory, std::byte* to, const std::byte* from, std::size_t n) {
  if (n != 0 && to != from) memory.copy(to, from, n);
}

// Elements [lo, hi) of `count` that rank `r` of `w` reduces: equal blocks rounded up to whole
// cache lines, so no two ranks write the same line (the last ranks may get less or nothing).
std::pair<std::int64_t, std::int64_t> block_of(std::int64_t count, int w, int r,
                                               std::size_t elem_size) {
  const std::int64_t line = std::max<std::int64_t>(1, 64 / static_cast<std::int64_t>(elem_size));
  std::int64_t per = (count + w - 1) / w;
  per = (per + line - 1) / line * line;
  const std::int64_t lo = std::min(count, per * r);
  return {lo, std::min(count, lo + per)};
}

}  // namespace

SimCommunicator::SimCommunicator(std::shared_ptr<GroupState> group, int rank)
    : group_(std::move(group)), rank_(rank) {
  srcs_.resize(group_->size());
  dsts_.resize(group_->size());
}

SimCommunicator::~SimCommunicator() = default;

int SimCommunicator::size() const { return group_->size(); }

const std::vector<int>& SimCommunicator::global_ranks() const { return group_->ranks(); }

Milliseconds SimCommunicator::default_timeout() const { return group_->world().timeout(); }

Milliseconds SimCommunicator::timeout_of(const std::optional<Milliseconds>& requested) const {
  return requested.value_or(default_timeout());
}

template <class Work>
void SimCommunicator::run(const Call& call, Work&& work) {
  group_->world().check_live(call.desc.name(), group_->description());
  const int parity = static_cast<int>(calls_++ & 1);
  Slot& mine = group_->slot(parity, rank_);
  mine.desc = call.desc;
  mine.src = call.src;
  mine.dst = call.dst;
  mine.color = call.color;
  mine.key = call.key;
  if (call.small && !call.stage.empty()) {
    std::memcpy(group_->staging(parity, rank_), call.stage.data(), call.stage.size());
  }
  group_->arrive(rank_, ++phases_, call.desc, call.timeout);
  check_descriptors(parity);
  work(parity);
  if (!call.small) group_->arrive_to_complete(rank_, ++phases_);
}

//   collective mismatch in group [0, 1, 2]: rank 0 called all_reduce(sum, float32, 12 elements),
//   rank 1 called all_gather(float32, 12 elements), rank 2 called all_reduce(...)
// Big groups list runs of equal calls: "ranks 0 to 62 called ..., rank 63 called ...".
void SimCommunicator::check_descriptors(int parity) const {
  const int n = size();
  const Descriptor& first = group_->slot(parity, 0).desc;
  bool same = true;
  for (int r = 1; r < n && same; ++r) same = group_->slot(parity, r).desc == first;
  if (same) return;
  const auto& ranks = group_->ranks();
  std::string message = cat("collective mismatch in ", group_->description(), ": ");
  for (int r = 0; r < n;) {
    const Descriptor& d = group_->slot(parity, r).desc;
    int end = r + 1;
    if (n > 16) {
      while (end < n && group_->slot(parity, end).desc == d) ++end;
    }
    message += r ? ", " : "";
    message +=
        end - r == 1 ? cat("rank ", ranks[r]) : cat("ranks ", ranks[r], " to ", ranks[end - 1]);
    message += cat(" called ", d.str());
    r = end;
  }
  throw CommMismatchError(message);
}

WorkPtr SimCommunicator::do_all_reduce(Tensor& tensor, const AllReduceOptions& opts) {
  const DType dtype = tensor.dtype();
  const std::int64_t count = tensor.numel();
  const std::size_t elem = dtype_size(dtype);
  const std::size_t nbytes = count * elem;
  Call call{{CollectiveKind::AllReduce, false, dtype, count, opts.op, {}},
            timeout_of(opts.timeout)};
  std::byte* data = bytes_of(tensor);
  DeviceInterface& memory = memory_of(tensor);
  call.small = group_->stage_all_reduce(nbytes) && is_host(tensor.device());
  call.src = call.dst = data;
  call.stage = {data, nbytes};
  return complete([&] {
    run(call, [&](int parity) {
      const int n = size();
      if (call.small) {
        for (int j = 0; j < n; ++j) srcs_[j] = group_->staging(parity, j);
        void* out = data;
        memory.reduce(dtype, opts.op, srcs_, std::span(&out, 1), count);
        return;
      }
      auto [lo, hi] = block_of(count, n, rank_, elem);
      for (int j = 0; j < n; ++j) {
        dsts_[j] = group_->slot(parity, j).dst + lo * elem;
        srcs_[j] = dsts_[j];
      }
      memory.reduce(dtype, opts.op, srcs_, dsts_, hi - lo);
    });
  });
}

WorkPtr SimCommunicator::do_all_gather(Tensor& output, const Tensor& input,
                                       const AllGatherOptions& opts) {
  const DType dtype = input.dtype();
  const std::int64_t count = input.numel();
  Call call{{CollectiveKind::AllGather, false, dtype, count, {}, {}}, timeout_of(opts.timeout)};
  const std::size_t block = count * dtype_size(dtype);
  DeviceInterface& memory = memory_of(input);
  call.small = block <= group_->staging_capacity() && is_host(input.device());
  call.src = bytes_of(input);
  call.stage = {call.src, block};
  return complete([&] {
    run(call, [&](int parity) {
      std::byte* out = bytes_of(output);
      for (int k = 0; k < size(); ++k) {
        const int j = (rank_ + k) % size();
        const std::byte* from = j == rank_   ? call.src
                                : call.small ? group_->staging(parity, j)
                                             : group_->slot(parity, j).src;
        copy(memory, out + j * block, from, block);
      }
    });
  });
}

WorkPtr SimCommunicator::do_reduce_scatter(Tensor& output, const Tensor& input,
                                           const ReduceScatterOptions& opts) {
  const DType dtype = output.dtype();
  const std::int64_t count = output.numel();
  const std::size_t block = count * dtype_size(dtype);
  Call call{{CollectiveKind::ReduceScatter, false, dtype, count, opts.op, {}},
            timeout_of(opts.timeout)};
  DeviceInterface& memory = memory_of(input);
  call.small = block * size() <= group_->staging_capacity() && is_host(input.device());
  call.src = bytes_of(input);
  call.stage = {call.src, block * size()};
  return complete([&] {
    run(call, [&](int parity) {
      const std::size_t offset = rank_ * block;
      for (int j = 0; j < size(); ++j) {
        srcs_[j] = (call.small ? group_->staging(parity, j) : group_->slot(parity, j).src) + offset;
      }
      void* out = bytes_of(output);
      memory.reduce(dtype, opts.op, srcs_, std::span(&out, 1), count);
    });
  });
}

WorkPtr SimCommunicator::do_all_to_all(Tensor& output, const Tensor& input,
                                       const AllToAllOptions& opts) {
  const DType dtype = input.dtype();
  const std::int64_t count = input.numel();
  const std::size_t nbytes = count * dtype_size(dtype);
  Call call{{CollectiveKind::AllToAll, false, dtype, count, {}, {}}, timeout_of(opts.timeout)};
  DeviceInterface& memory = memory_of(input);
  call.small = nbytes <= group_->staging_capacity() && is_host(input.device());
  call.src = bytes_of(input);
  call.stage = {call.src, nbytes};
  return complete([&] {
    run(call, [&](int parity) {
      const std::size_t block = nbytes / size();
      std::byte* out = bytes_of(output);
      for (int k = 0; k < size(); ++k) {
        const int j = (rank_ + k) % size();
        const std::byte* from = j == rank_   ? call.src
                                : call.small ? group_->staging(parity, j)
                                             : group_->slot(parity, j).src;
        copy(memory, out + j * block, from + rank_ * block, block);
      }
    });
  });
}

WorkPtr SimCommunicator::do_broadcast(Tensor& tensor, const BroadcastOptions& opts) {
  const DType dtype = tensor.dtype();
  const std::int64_t count = tensor.numel();
  const std::size_t nbytes = count * dtype_size(dtype);
  Call call{{CollectiveKind::Broadcast, false, dtype, count, {}, opts.root},
            timeout_of(opts.timeout)};
  std::byte* data = bytes_of(tensor);
  DeviceInterface& memory = memory_of(tensor);
  call.small = nbytes <= group_->staging_capacity() && is_host(tensor.device());
  call.src = data;
  if (rank_ == opts.root) call.stage = {data, nbytes};
  return complete([&] {
    run(call, [&](int parity) {
      if (rank_ == opts.root) return;
      const std::byte* from =
          call.small ? group_->staging(parity, opts.root) : group_->slot(parity, opts.root).src;
      copy(memory, data, from, nbytes);
    });
  });
}

WorkPtr SimCommunicator::do_scatter(Tensor& output, const Tensor& input,
                                    const ScatterOptions& opts) {
  const DType dtype = output.dtype();
  const std::int64_t count = output.numel();
  Call call{{CollectiveKind::Scatter, false, dtype, count, {}, opts.root},
            timeout_of(opts.timeout)};
  const std::size_t block = count * dtype_size(dtype);
  DeviceInterface& memory = memory_of(output);
  call.small = block * size() <= group_->staging_capacity() && is_host(output.device());
  if (rank_ == opts.root) {
    call.src = bytes_of(input);
    call.stage = {call.src, block * size()};
  }
  return complete([&] {
    run(call, [&](int parity) {
      const std::byte* from =
          call.small ? group_->staging(parity, opts.root) : group_->slot(parity, opts.root).src;
      if (rank_ == opts.root) from = call.src;
      copy(memory, bytes_of(output), from + rank_ * block, block);
    });
  });
}

WorkPtr SimCommunicator::do_barrier(const BarrierOptions& opts) {
  Call call{{CollectiveKind::Barrier, false, DType::Float32, 0, {}, {}}, timeout_of(opts.timeout)};
  return complete([&] { run(call, [](int) {}); });
}

WorkPtr SimCommunicator::do_send(const Tensor& tensor, int dst, const PointToPointOptions& opts) {
  return complete([&] {
    group_->world().check_live("send", group_->description());
    if (group_->world().failed()) {
      throw CommAbortedError(cat("send to rank ", global_ranks()[dst], " aborted in ", describe(),
                                 ": ", group_->world().failure()));
    }
    group_->post(rank_, dst, opts.tag, tensor.clone());
  });
}

WorkPtr SimCommunicator::do_recv(Tensor& tensor, int src, const PointToPointOptions& opts) {
  return complete([&] {
    group_->world().check_live("recv", group_->description());
    Tensor message = group_->take(src, rank_, opts.tag, timeout_of(opts.timeout));
    if (message.dtype() != tensor.dtype() || message.numel() != tensor.numel()) {
      throw CommError(cat("recv: the message from rank ", global_ranks()[src], " (tag ", opts.tag,
                          ") holds ", message.numel(), " ", dtype_name(message.dtype()),
                          " elements but the receive buffer holds ", tensor.numel(), " ",
                          dtype_name(tensor.dtype()), " elements (", describe(), ")"));
    }
    copy(memory_of(tensor), bytes_of(tensor), bytes_of(std::as_const(message)), tensor.nbytes());
  });
}

std::shared_ptr<Communicator> SimCommunicator::do_split(int color, int key) {
  Call call{{CollectiveKind::Barrier, true, DType::Float32, 0, {}, {}}, default_timeout()};
  call.color = color;
  call.key = key;
  std::shared_ptr<Communicator> result;
  run(call, [&](int parity) {
    std::vector<std::pair<int, int>> members;  // (key, group rank) of this rank's color
    if (color >= 0) {
      for (int r = 0; r < size(); ++r) {
        const Slot& s = group_->slot(parity, r);
        if (s.color == color) members.emplace_back(s.key, r);
      }
      std::sort(members.begin(), members.end());
      if (members.front().second == rank_) {
        std::vector<int> global;
        for (auto [k, r] : members) global.push_back(group_->ranks()[r]);
        group_->slot(parity, rank_).child = group_->world().create_group(std::move(global));
      }
    }
    // The leader's new group is published to its members by a second phase.
    group_->arrive(rank_, ++phases_, call.desc, call.timeout);
    if (color < 0) return;
    const int position = static_cast<int>(
        std::find(members.begin(), members.end(), std::pair{key, rank_}) - members.begin());
    result = std::make_shared<SimCommunicator>(group_->slot(parity, members.front().second).child,
                                               position);
  });
  return result;
}

}  // namespace tensorpar::sim
