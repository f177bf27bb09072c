#include "gloo/gloo_communicator.h"

#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/alltoall.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/common/error.h>
#include <gloo/common/logging.h>
#include <gloo/rendezvous/context.h>
#include <gloo/scatter.h>
#include <gloo/transport/tcp/device.h>
#include <gloo/transport/unbound_buffer.h>
#include <gloo/types.h>
#include <net/if.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "core/base/error.h"
#include "gloo/reduce_function.h"
#include "gloo/ring_reduce_scatter.h"
#include "gloo/store_adapter.h"

namespace tensorpar::gloo {

namespace {

// Slot prefixes of the operations Gloo has no new-style collective for; Gloo's own take
// 0x01 .. 0x08 (gloo/types.h), so these never meet theirs.
constexpr std::uint8_t kPointToPointSlotPrefix = 0x20;
constexpr std::uint8_t kReduceScatterSlotPrefix = 0x21;

std::byte* bytes_of(Tensor& t) { return static_cast<std::byte*>(t.data_ptr()); }
std::byte* bytes_of(const Tensor& t) {
  // Gloo's buffers take void*; inputs are only ever sent from.
  return const_cast<std::byte*>(static_cast<const std::byte*>(t.data_ptr()));
}

// " on rank 2 of group [0, 2]: " — where a failure happened, for the messages below.
std::string location(const Communicator& comm) {
  return cat(" on rank ", comm.global_ranks()[comm.rank()], " of ", comm.describe(), ": ");
}

// The failure of `what` at `where` (location()) as a CommError; call from a catch block.
[[noreturn]] void rethrow_as_comm_error(std::string_view what, Milliseconds timeout,
                                        const std::string& where) {
  const std::string timed_out = cat(what, " timed out after ", timeout.count(), " ms", where);
  try {
    throw;
  } catch (const CommError&) {
    throw;
  } catch (const std::invalid_argument&) {
    throw;
  } catch (const StoreTimeoutError& e) {
    throw CommTimeoutError(timed_out + e.what());
  } catch (const ::gloo::IoException& e) {
    const std::string message = e.what();
    if (message.find("Timed out") != std::string::npos) throw CommTimeoutError(timed_out + message);
    throw CommError(cat(what, " failed", where, message));
  } catch (const ::gloo::EnforceNotMet& e) {
    throw CommError(cat(what, " failed", where, e.what()));
  } catch (const std::exception& e) {
    throw CommError(cat(what, " failed", where, e.what()));
  }
}

// Gloo's device creation can crash on a host name that does not resolve (libgloo 2022-05), so
// the name and the interface are checked here first.
void check_address(const GlooOptions& options) {
  if (!options.iface.empty()) {
    if (if_nametoindex(options.iface.c_str()) == 0) {
      throw CommError(cat("GlooOptions: interface \"", options.iface, "\" does not exist"));
    }
    return;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(options.hostname.c_str(), nullptr, &hints, &found);
  if (found) freeaddrinfo(found);
  if (rc != 0) {
    throw CommError(cat("GlooOptions: host name \"", options.hostname,
                        "\" does not resolve: ", gai_strerror(rc)));
  }
}

std::shared_ptr<::gloo::transport::Device> make_device(const GlooOptions& options) {
  check_address(options);
  ::gloo::transport::tcp::attr attr;
  if (!options.iface.empty()) {
    attr.iface = options.iface;
  } else {
    attr.hostname = options.hostname;
  }
  try {
    return ::gloo::transport::tcp::CreateDevice(attr);
  } catch (const std::exception& e) {
    throw CommError(cat("creating the Gloo TCP device on ",
                        options.iface.empty() ? "host name \"" + options.hostname + "\""
                                              : "interface \"" + options.iface + "\"",
                        " failed: ", e.what()));
  }
}

}  // namespace

// A send in flight: the copy of the tensor stays alive until the peer has received it.
class GlooCommunicator::SendWork final : public Work {
 public:
  SendWork(::gloo::Context& context, const Tensor& tensor, int dst, std::uint64_t slot,
           Milliseconds timeout, std::string what, std::string where)
      : copy_(static_cast<const std::byte*>(tensor.data_ptr()),
              static_cast<const std::byte*>(tensor.data_ptr()) + tensor.nbytes()),
        timeout_(timeout),
        what_(std::move(what)),
        where_(std::move(where)) {
    buffer_ = context.createUnboundBuffer(copy_.data(), copy_.size());
    buffer_->send(dst, slot);
  }

  bool is_completed() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return done_;
  }

  void wait(std::optional<Milliseconds> timeout) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!done_) {
      const Milliseconds limit = timeout.value_or(timeout_);
      try {
        if (!buffer_->waitSend(limit)) throw CommError(cat(what_, " was aborted"));
      } catch (...) {
        try {
          rethrow_as_comm_error(what_, limit, where_);
        } catch (...) {
          error_ = std::current_exception();
        }
      }
      done_ = true;
    }
    if (error_) std::rethrow_exception(error_);
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::byte> copy_;
  std::unique_ptr<::gloo::transport::UnboundBuffer> buffer_;
  Milliseconds timeout_;
  std::string what_;
  std::string where_;
  bool done_ = false;
  std::exception_ptr error_;
};

GlooCommunicator::GlooCommunicator(Setup setup)
    : store_(std::move(setup.store)),
      device_(std::move(setup.device)),
      prefix_(std::move(setup.prefix)),
      rank_(setup.rank),
      global_ranks_(std::move(setup.global_ranks)),
      timeout_(setup.timeout) {
  auto context = std::make_shared<::gloo::rendezvous::Context>(rank_, size());
  context->setTimeout(timeout_);
  try {
    StoreAdapter adapter(store_, prefix_);
    context->connectFullMesh(adapter, device_);
  } catch (...) {
    rethrow_as_comm_error("connecting the Gloo full mesh", timeout_, location(*this));
  }
  context_ = std::move(context);
}

GlooCommunicator::~GlooCommunicator() {
  // Sends nobody waited for get the default timeout to reach their peer, then are dropped.
  std::lock_guard<std::mutex> lock(sends_mutex_);
  for (auto& send : sends_) {
    try {
      send->wait(std::nullopt);
    } catch (...) {
    }
  }
}

template <class Body>
WorkPtr GlooCommunicator::run(CollectiveKind kind, Milliseconds timeout, Body&& body) {
  try {
    body();
    return std::make_shared<CompletedWork>();
  } catch (...) {
    try {
      rethrow_as_comm_error(collective_name(kind), timeout, location(*this));
    } catch (...) {
      return std::make_shared<CompletedWork>(std::current_exception());
    }
  }
}

WorkPtr GlooCommunicator::do_all_reduce(Tensor& tensor, const AllReduceOptions& opts) {
  const Milliseconds timeout = timeout_of(opts.timeout);
  return run(CollectiveKind::AllReduce, timeout, [&] {
    const auto n = static_cast<std::size_t>(tensor.numel());
    if (n == 0) return;
    ::gloo::AllreduceOptions o(context_);
    visit_dtype(tensor.dtype(),
                [&]<class T>() { o.setOutput<T>(static_cast<T*>(tensor.data_ptr()), n); });
    o.setReduceFunction(reduce_function(tensor.dtype(), opts.op));
    o.setTag(next_tag());
    o.setTimeout(timeout);
    ::gloo::allreduce(o);
    if (opts.op == ReduceOp::Avg) divide_in_place(tensor.dtype(), tensor.data_ptr(), n, size());
  });
}

WorkPtr GlooCommunicator::do_all_gather(Tensor& output, const Tensor& input,
                                        const AllGatherOptions& opts) {
  const Milliseconds timeout = timeout_of(opts.timeout);
  return run(CollectiveKind::AllGather, timeout, [&] {
    const auto n = static_cast<std::size_t>(input.numel());
    if (n == 0) return;
    ::gloo::AllgatherOptions o(context_);
    visit_dtype(input.dtype(), [&]<class T>() {
      T* out = static_cast<T*>(output.data_ptr());
      // In place (input is block rank() of output): Gloo then reads the block from output.
      if (static_cast<const void*>(out + rank_ * n) != input.data_ptr()) {
        o.setInput<T>(reinterpret_cast<T*>(bytes_of(input)), n);
      }
      o.setOutput<T>(out, n * size());
    });
    o.setTag(next_tag());
    o.setTimeout(timeout);
    ::gloo::allgather(o);
  });
}

WorkPtr GlooCommunicator::do_reduce_scatter(Tensor& output, const Tensor& input,
                                            const ReduceScatterOptions& opts) {
  const Milliseconds timeout = timeout_of(opts.timeout);
  return run(CollectiveKind::ReduceScatter, timeout, [&] {
    const auto n = static_cast<std::size_t>(output.numel());
    if (n == 0) return;
    const std::size_t block_bytes = output.nbytes();
    if (staging_.size() < 2 * block_bytes) staging_.resize(2 * block_bytes);
    const auto slot = ::gloo::Slot::build(kReduceScatterSlotPrefix, next_tag());
    ring_reduce_scatter(*context_, bytes_of(input), bytes_of(output), staging_.data(), block_bytes,
                        n, reduce_function(output.dtype(), opts.op), slot, timeout);
    if (opts.op == ReduceOp::Avg) divide_in_place(output.dtype(), output.data_ptr(), n, size());
  });
}

WorkPtr GlooCommunicator::do_all_to_all(Tensor& output, const Tensor& input,
                                        const AllToAllOptions& opts) {
  const Milliseconds timeout = timeout_of(opts.timeout);
  return run(CollectiveKind::AllToAll, timeout, [&] {
    const auto n = static_cast<std::size_t>(input.numel());
    if (n == 0) return;
    ::gloo::AlltoallOptions o(context_);
    visit_dtype(input.dtype(), [&]<class T>() {
      o.setInput<T>(reinterpret_cast<T*>(bytes_of(input)), n);
      o.setOutput<T>(static_cast<T*>(output.data_ptr()), n);
    });
    o.setTag(next_tag());
    o.setTimeout(timeout);
    ::gloo::alltoall(o);
  });
}

WorkPtr GlooCommunicator::do_broadcast(Tensor& tensor, const BroadcastOptions& opts) {
  const Milliseconds timeout = timeout_of(opts.timeout);
  return run(CollectiveKind::Broadcast, timeout, [&] {
    const auto n = static_cast<std::size_t>(tensor.numel());
    if (n == 0) return;
    ::gloo::BroadcastOptions o(context_);
    visit_dtype(tensor.dtype(),
                [&]<class T>() { o.setOutput<T>(static_cast<T*>(tensor.data_ptr()), n); });
    o.setRoot(opts.root);
    o.setTag(next_tag());
    o.setTimeout(timeout);
    ::gloo::broadcast(o);
  });
}

WorkPtr GlooCommunicator::do_scatter(Tensor& output, const Tensor& input,
                                     const ScatterOptions& opts) {
  const Milliseconds timeout = timeout_of(opts.timeout);
  return run(CollectiveKind::Scatter, timeout, [&] {
    const auto n = static_cast<std::size_t>(output.numel());
    if (n == 0) return;
    ::gloo::ScatterOptions o(context_);
    visit_dtype(output.dtype(), [&]<class T>() {
      if (rank_ == opts.root) {
        std::vector<T*> blocks;
        for (int i = 0; i < size(); ++i)
          blocks.push_back(reinterpret_cast<T*>(bytes_of(input)) + i * n);
        o.setInputs<T>(blocks, n);
      }
      o.setOutput<T>(static_cast<T*>(output.data_ptr()), n);
    });
    o.setRoot(opts.root);
    o.setTag(next_tag());
    o.setTimeout(timeout);
    ::gloo::scatter(o);
  });
}

WorkPtr GlooCommunicator::do_barrier(const BarrierOptions& opts) {
  const Milliseconds timeout = timeout_of(opts.timeout);
  return run(CollectiveKind::Barrier, timeout, [&] {
    ::gloo::BarrierOptions o(context_);
    o.setTag(next_tag());
    o.setTimeout(timeout);
    ::gloo::barrier(o);
  });
}

WorkPtr GlooCommunicator::do_send(const Tensor& tensor, int dst, const PointToPointOptions& opts) {
  const Milliseconds timeout = timeout_of(opts.timeout);
  const std::string what = cat("send to rank ", global_ranks_[dst], " (tag ", opts.tag, ")");
  if (tensor.numel() == 0) return std::make_shared<CompletedWork>();
  std::shared_ptr<SendWork> work;
  try {
    const auto slot =
        ::gloo::Slot::build(kPointToPointSlotPrefix, static_cast<std::uint32_t>(opts.tag));
    work = std::make_shared<SendWork>(*context_, tensor, dst, slot, timeout, what, location(*this));
  } catch (...) {
    try {
      rethrow_as_comm_error(what, timeout, location(*this));
    } catch (...) {
      return std::make_shared<CompletedWork>(std::current_exception());
    }
  }
  std::lock_guard<std::mutex> lock(sends_mutex_);
  std::erase_if(sends_, [](const auto& s) { return s->is_completed(); });
  sends_.push_back(work);
  return work;
}

WorkPtr GlooCommunicator::do_recv(Tensor& tensor, int src, const PointToPointOptions& opts) {
  const Milliseconds timeout = timeout_of(opts.timeout);
  const std::string what = cat("recv from rank ", global_ranks_[src], " (tag ", opts.tag, ")");
  try {
    if (tensor.numel() != 0) {
      const auto slot =
          ::gloo::Slot::build(kPointToPointSlotPrefix, static_cast<std::uint32_t>(opts.tag));
      auto buffer = context_->createUnboundBuffer(tensor.data_ptr(), tensor.nbytes());
      buffer->recv(src, slot);
      if (!buffer->waitRecv(timeout)) throw CommError(cat(what, " was aborted"));
    }
    return std::make_shared<CompletedWork>();
  } catch (...) {
    try {
      rethrow_as_comm_error(what, timeout, location(*this));
    } catch (...) {
      return std::make_shared<CompletedWork>(std::current_exception());
    }
  }
}

std::shared_ptr<Communicator> GlooCommunicator::do_split(int color, int key) {
  const std::uint64_t split = splits_++;
  // Every rank's (color, key), exchanged on this communicator's own context (not recorded).
  std::vector<std::int64_t> mine = {color, key};
  std::vector<std::int64_t> all(2 * static_cast<std::size_t>(size()));
  try {
    ::gloo::AllgatherOptions o(context_);
    o.setInput<std::int64_t>(mine.data(), 2);
    o.setOutput<std::int64_t>(all.data(), all.size());
    o.setTag(next_tag());
    o.setTimeout(timeout_);
    ::gloo::allgather(o);
  } catch (...) {
    rethrow_as_comm_error("split", timeout_, location(*this));
  }
  if (color < 0) return nullptr;
  std::vector<std::pair<std::int64_t, int>> members;  // (key, rank) of this color
  for (int r = 0; r < size(); ++r) {
    if (all[2 * r] == color) members.emplace_back(all[2 * r + 1], r);
  }
  std::sort(members.begin(), members.end());
  Setup setup;
  setup.store = store_;
  setup.device = device_;
  setup.prefix = cat(prefix_, "split", split, "/color", color, "/");
  setup.timeout = timeout_;
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (members[i].second == rank_) setup.rank = static_cast<int>(i);
    setup.global_ranks.push_back(global_ranks_[members[i].second]);
  }
  return std::make_shared<GlooCommunicator>(std::move(setup));
}

std::shared_ptr<GlooCommunicator> make_gloo_world(std::shared_ptr<Store> store, int rank, int size,
                                                  const GlooOptions& options) {
  check_arg(store != nullptr, "make_gloo_world: store is null");
  check_arg(size >= 1, "make_gloo_world: size ", size, " must be at least 1");
  check_arg(rank >= 0 && rank < size, "make_gloo_world: rank ", rank, " is out of range for size ",
            size);
  check_arg(options.timeout.count() > 0, "make_gloo_world: timeout ", options.timeout.count(),
            " ms must be positive");
  GlooCommunicator::Setup setup;
  setup.store = std::move(store);
  setup.device = make_device(options);
  setup.prefix = options.prefix;
  setup.rank = rank;
  setup.timeout = options.timeout;
  for (int r = 0; r < size; ++r) setup.global_ranks.push_back(r);
  return std::make_shared<GlooCommunicator>(std::move(setup));
}

}  // namespace tensorpar::gloo
