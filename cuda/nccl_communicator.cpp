#include "cuda/nccl_communicator.h"

#include <nccl.h>

#include <algorithm>
#include <cstring>
#include <thread>
#include <utility>

#include "core/base/error.h"
#include "cuda/nccl_rendezvous.h"
#include "cuda/nccl_stream.h"
#include "cuda/nccl_watchdog.h"
#include "cuda/nccl_work.h"

namespace tensorpar::cuda {

namespace {

static_assert(std::is_same_v<ncclComm_t, ncclComm*>);

ncclDataType_t nccl_dtype(DType dtype) {
  switch (dtype) {
    case DType::Float32:
      return ncclFloat32;
    case DType::Float64:
      return ncclFloat64;
    case DType::Int64:
      return ncclInt64;
    case DType::BFloat16:
      return ncclBfloat16;
  }
  throw std::invalid_argument(cat("nccl: no NCCL type for dtype ", dtype_name(dtype)));
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum:
      return ncclSum;
    case ReduceOp::Avg:
      return ncclAvg;
    case ReduceOp::Max:
      return ncclMax;
    case ReduceOp::Min:
      return ncclMin;
    case ReduceOp::Product:
      return ncclProd;
  }
  throw std::invalid_argument(cat("nccl: no NCCL reduction for ", reduce_op_name(op)));
}

// "NCCL error 'unhandled system error': <NCCL's last message>".
std::string nccl_message(int rc) {
  std::string text = cat("NCCL error '", ncclGetErrorString(static_cast<ncclResult_t>(rc)), "'");
  const char* last = ncclGetLastError(nullptr);
  if (last && *last) text += cat(": ", last);
  return text;
}

ncclConfig_t make_config(const NcclOptions& options) {
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;  // every call returns at once; settle() bounds the wait by a deadline
  if (options.min_ctas > 0) config.minCTAs = options.min_ctas;
  if (options.max_ctas > 0) config.maxCTAs = options.max_ctas;
  if (options.cga_cluster_size >= 0) config.cgaClusterSize = options.cga_cluster_size;
  if (!options.comm_name.empty()) config.commName = options.comm_name.c_str();
  return config;
}

std::byte* bytes(Tensor& t) { return static_cast<std::byte*>(t.device_data()); }
const std::byte* bytes(const Tensor& t) { return static_cast<const std::byte*>(t.device_data()); }

// The first failure among several NCCL calls of one group (ncclGroupEnd runs regardless).
int first_error(int a, int b) { return a != ncclSuccess ? a : b; }

}  // namespace

std::string nccl_version() {
  int code = 0;
  if (ncclGetVersion(&code) != ncclSuccess) return "unknown";
  return cat(code / 10000, ".", code / 100 % 100, ".", code % 100);
}

NcclCommunicator::NcclCommunicator(Setup setup)
    : store_(std::move(setup.store)),
      prefix_(std::move(setup.prefix)),
      rank_(setup.rank),
      global_ranks_(std::move(setup.global_ranks)),
      options_(std::move(setup.options)),
      comm_(setup.comm) {
  try {
    CudaDeviceScope scope(options_.device);
    stream_ = std::make_unique<CommStream>(options_.high_priority_stream);
    ready_ = std::make_unique<CommEvent>();
    cuda_check(cudaMalloc(&barrier_buffer_, sizeof(float)), "cudaMalloc for barrier");
    if (!comm_) {
      const auto deadline = deadline_after(options_.timeout);
      const StoreBytes id_bytes = exchange_unique_id(
          *store_, prefix_ + "unique_id", rank_, sizeof(ncclUniqueId), options_.timeout,
          [] {
            ncclUniqueId id;
            const ncclResult_t rc = ncclGetUniqueId(&id);
            if (rc != ncclSuccess) throw CommError(cat("ncclGetUniqueId: ", nccl_message(rc)));
            const auto* p = reinterpret_cast<const std::uint8_t*>(&id);
            return StoreBytes(p, p + sizeof(id));
          },
          where());
      ncclUniqueId id;
      std::memcpy(&id, id_bytes.data(), sizeof(id));
      ncclConfig_t config = make_config(options_);
      ncclComm_t comm = nullptr;
      int rc = ncclCommInitRankConfig(&comm, size(), id, rank_, &config);
      if (comm) rc = settle(rc, comm, deadline);
      if (rc != ncclSuccess) {
        if (comm) ncclCommAbort(comm);
        if (rc == ncclInProgress) {
          throw CommTimeoutError(cat("NCCL initialisation timed out after ",
                                     options_.timeout.count(), " ms", where(),
                                     "not every rank of the group joined"));
        }
        throw CommError(cat("NCCL initialisation failed", where(), nccl_message(rc)));
      }
      comm_ = comm;
    }
  } catch (...) {
    if (comm_) ncclCommAbort(comm_);
    if (barrier_buffer_) cudaFree(barrier_buffer_);
    try {
      throw;
    } catch (const CommError&) {
      throw;
    } catch (const std::invalid_argument&) {
      throw;
    } catch (const std::exception& e) {
      throw CommError(cat("creating the NCCL communicator failed", where(), e.what()));
    }
  }
  NcclWatchdog::Hooks hooks;
  hooks.async_error = [this]() -> std::optional<std::string> {
    std::unique_lock<std::mutex> lock(comm_mutex_, std::try_to_lock);
    if (!lock.owns_lock() || !comm_) return std::nullopt;  // being used: asked again next time
    ncclResult_t state = ncclSuccess;
    const ncclResult_t rc = ncclCommGetAsyncError(comm_, &state);
    if (rc != ncclSuccess) return cat("ncclCommGetAsyncError failed: ", nccl_message(rc));
    if (state == ncclSuccess || state == ncclInProgress) return std::nullopt;
    return nccl_message(state);
  };
  hooks.abort = [this] { abort_comm(); };
  hooks.thread_start = [device = options_.device] { cudaSetDevice(device); };
  watchdog_ = std::make_shared<NcclWatchdog>(where(), std::move(hooks), options_.watchdog_interval,
                                             options_.on_error);
}

NcclCommunicator::~NcclCommunicator() {
  const bool failed = watchdog_ && watchdog_->failure();
  watchdog_.reset();  // stops the thread before anything it uses goes away
  try {
    CudaDeviceScope scope(options_.device);
    std::lock_guard<std::mutex> lock(comm_mutex_);
    if (comm_) {
      bool finalized = false;
      if (!failed) {
        const int rc = settle(ncclCommFinalize(comm_), comm_, deadline_after(options_.timeout));
        finalized = rc == ncclSuccess;
      }
      if (finalized) {
        ncclCommDestroy(comm_);
      } else {
        ncclCommAbort(comm_);
      }
      comm_ = nullptr;
    }
    if (barrier_buffer_) cudaFree(barrier_buffer_);
  } catch (...) {
  }
}

std::exception_ptr NcclCommunicator::failure() const { return watchdog_->failure(); }

std::string NcclCommunicator::where() const {
  return cat(" on rank ", global_ranks_[rank_], " of ", describe(), ": ");
}

void NcclCommunicator::abort_comm() {
  std::lock_guard<std::mutex> lock(comm_mutex_);
  if (!comm_) return;
  int previous = -1;
  const bool switched = cudaGetDevice(&previous) == cudaSuccess && previous != options_.device &&
                        cudaSetDevice(options_.device) == cudaSuccess;
  ncclCommAbort(comm_);
  comm_ = nullptr;
  if (switched) cudaSetDevice(previous);
}

int NcclCommunicator::settle(int rc, ncclComm* comm, DeadlineClock::time_point deadline) {
  auto pause = std::chrono::microseconds(1);
  while (rc == ncclInProgress) {
    ncclResult_t state = ncclSuccess;
    const ncclResult_t query = ncclCommGetAsyncError(comm, &state);
    if (query != ncclSuccess) return query;
    rc = state;
    if (rc != ncclInProgress) break;
    if (DeadlineClock::now() >= deadline) return ncclInProgress;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(1000));
  }
  return rc;
}

void NcclCommunicator::check_device(CollectiveKind kind, const Tensor& t, const char* name) const {
  const Device d = t.device();
  if (d.type == DeviceType::CUDA && d.index == options_.device) return;
  throw std::invalid_argument(cat(collective_name(kind), ": ", name, " is on ", device_str(d),
                                  " but this nccl communicator moves tensors on cuda:",
                                  options_.device, " only (", describe(), ")"));
}

WorkPtr NcclCommunicator::issue(const std::string& what, Milliseconds timeout,
                                std::vector<Tensor> keep_alive, bool host_blocking,
                                const std::function<int(ncclComm*, cudaStream_t)>& launch) {
  if (auto failure = watchdog_->failure()) {
    return std::make_shared<CompletedWork>(std::make_exception_ptr(
        CommError(cat(what, " failed", where(),
                      "the NCCL communicator was aborted earlier: ", exception_message(failure)))));
  }
  std::exception_ptr error;
  try {
    CudaDeviceScope scope(options_.device);
    const cudaStream_t compute = options_.compute_stream ? options_.compute_stream() : nullptr;
    auto done = std::make_shared<CommEvent>();
    int rc = ncclSuccess;
    {
      std::lock_guard<std::mutex> lock(comm_mutex_);
      if (!comm_)
        throw CommError(cat(what, " failed", where(), "the NCCL communicator was aborted"));
      ready_->record(compute);
      stream_->wait(*ready_);
      rc = settle(launch(comm_, stream_->get()), comm_, deadline_after(timeout));
      if (rc == ncclSuccess) done->record(stream_->get());
    }
    if (rc == ncclInProgress) {
      throw CommTimeoutError(cat(what, " timed out after ", timeout.count(), " ms", where(),
                                 "NCCL did not take the collective in time"));
    }
    if (rc != ncclSuccess) throw CommError(cat(what, " failed", where(), nccl_message(rc)));
    auto kept = std::make_shared<std::vector<Tensor>>(std::move(keep_alive));
    auto op = std::make_shared<WatchedOp>(
        what, timeout, [done] { return done->query(); }, std::move(kept));
    watchdog_->watch(op);
    return std::make_shared<NcclWork>(op, done, watchdog_, options_.compute_stream,
                                      options_.blocking_wait || host_blocking, where());
  } catch (const CommError&) {
    error = std::current_exception();
  } catch (const std::exception& e) {
    error = std::make_exception_ptr(CommError(cat(what, " failed", where(), e.what())));
  }
  // A rank that could not issue leaves its peers waiting in the collective: fail the group
  // here so that this rank's later calls fail at once too.
  watchdog_->fail(error);
  return std::make_shared<CompletedWork>(error);
}

WorkPtr NcclCommunicator::do_all_reduce(Tensor& tensor, const AllReduceOptions& opts) {
  check_device(CollectiveKind::AllReduce, tensor, "tensor");
  const auto n = static_cast<std::size_t>(tensor.numel());
  if (n == 0) return std::make_shared<CompletedWork>();
  void* buffer = tensor.device_data();
  const ncclDataType_t type = nccl_dtype(tensor.dtype());
  const ncclRedOp_t op = nccl_op(opts.op);
  return issue("all_reduce", timeout_of(opts.timeout), {tensor}, false,
               [=](ncclComm* comm, cudaStream_t stream) {
                 return ncclAllReduce(buffer, buffer, n, type, op, comm, stream);
               });
}

WorkPtr NcclCommunicator::do_all_gather(Tensor& output, const Tensor& input,
                                        const AllGatherOptions& opts) {
  check_device(CollectiveKind::AllGather, output, "output");
  check_device(CollectiveKind::AllGather, input, "input");
  const auto n = static_cast<std::size_t>(input.numel());
  if (n == 0) return std::make_shared<CompletedWork>();
  const void* in = input.device_data();
  void* out = output.device_data();
  const ncclDataType_t type = nccl_dtype(input.dtype());
  return issue("all_gather", timeout_of(opts.timeout), {output, input}, false,
               [=](ncclComm* comm, cudaStream_t stream) {
                 return ncclAllGather(in, out, n, type, comm, stream);
               });
}

WorkPtr NcclCommunicator::do_reduce_scatter(Tensor& output, const Tensor& input,
                                            const ReduceScatterOptions& opts) {
  check_device(CollectiveKind::ReduceScatter, output, "output");
  check_device(CollectiveKind::ReduceScatter, input, "input");
  const auto n = static_cast<std::size_t>(output.numel());
  if (n == 0) return std::make_shared<CompletedWork>();
  const void* in = input.device_data();
  void* out = output.device_data();
  const ncclDataType_t type = nccl_dtype(output.dtype());
  const ncclRedOp_t op = nccl_op(opts.op);
  return issue("reduce_scatter", timeout_of(opts.timeout), {output, input}, false,
               [=](ncclComm* comm, cudaStream_t stream) {
                 return ncclReduceScatter(in, out, n, type, op, comm, stream);
               });
}

WorkPtr NcclCommunicator::do_all_to_all(Tensor& output, const Tensor& input,
                                        const AllToAllOptions& opts) {
  check_device(CollectiveKind::AllToAll, output, "output");
  check_device(CollectiveKind::AllToAll, input, "input");
  if (input.numel() == 0) return std::make_shared<CompletedWork>();
  const auto n = static_cast<std::size_t>(input.numel() / size());
  const std::size_t block = n * dtype_size(input.dtype());
  const std::byte* in = bytes(input);
  std::byte* out = bytes(output);
  const ncclDataType_t type = nccl_dtype(input.dtype());
  const int me = rank_, ranks = size();
  return issue("all_to_all", timeout_of(opts.timeout), {output, input}, false,
               [=](ncclComm* comm, cudaStream_t stream) {
                 cuda_check(cudaMemcpyAsync(out + me * block, in + me * block, block,
                                            cudaMemcpyDeviceToDevice, stream),
                            "all_to_all: copying this rank's own block");
                 int rc = ncclGroupStart();
                 for (int r = 0; r < ranks && rc == ncclSuccess; ++r) {
                   if (r == me) continue;
                   rc = first_error(rc, ncclSend(in + r * block, n, type, r, comm, stream));
                   rc = first_error(rc, ncclRecv(out + r * block, n, type, r, comm, stream));
                 }
                 return first_error(rc, ncclGroupEnd());
               });
}

WorkPtr NcclCommunicator::do_broadcast(Tensor& tensor, const BroadcastOptions& opts) {
  check_device(CollectiveKind::Broadcast, tensor, "tensor");
  const auto n = static_cast<std::size_t>(tensor.numel());
  if (n == 0) return std::make_shared<CompletedWork>();
  void* buffer = tensor.device_data();
  const ncclDataType_t type = nccl_dtype(tensor.dtype());
  const int root = opts.root;
  return issue("broadcast", timeout_of(opts.timeout), {tensor}, false,
               [=](ncclComm* comm, cudaStream_t stream) {
                 return ncclBroadcast(buffer, buffer, n, type, root, comm, stream);
               });
}

WorkPtr NcclCommunicator::do_scatter(Tensor& output, const Tensor& input,
                                     const ScatterOptions& opts) {
  check_device(CollectiveKind::Scatter, output, "output");
  const bool is_root = rank_ == opts.root;
  if (is_root) check_device(CollectiveKind::Scatter, input, "input");
  const auto n = static_cast<std::size_t>(output.numel());
  if (n == 0) return std::make_shared<CompletedWork>();
  const std::size_t block = n * dtype_size(output.dtype());
  const std::byte* in = is_root ? bytes(input) : nullptr;
  std::byte* out = bytes(output);
  const ncclDataType_t type = nccl_dtype(output.dtype());
  const int root = opts.root, ranks = size();
  std::vector<Tensor> kept = {output};
  if (is_root) kept.push_back(input);
  return issue("scatter", timeout_of(opts.timeout), std::move(kept), false,
               [=](ncclComm* comm, cudaStream_t stream) {
                 if (!is_root) return static_cast<int>(ncclRecv(out, n, type, root, comm, stream));
                 if (out != in + root * block) {
                   cuda_check(cudaMemcpyAsync(out, in + root * block, block,
                                              cudaMemcpyDeviceToDevice, stream),
                              "scatter: copying the root's own block");
                 }
                 int rc = ncclGroupStart();
                 for (int r = 0; r < ranks && rc == ncclSuccess; ++r) {
                   if (r != root)
                     rc = first_error(rc, ncclSend(in + r * block, n, type, r, comm, stream));
                 }
                 return first_error(rc, ncclGroupEnd());
               });
}

WorkPtr NcclCommunicator::do_send(const Tensor& tensor, int dst, const PointToPointOptions& opts) {
  check_device(CollectiveKind::Send, tensor, "tensor");
  const auto n = static_cast<std::size_t>(tensor.numel());
  if (n == 0) return std::make_shared<CompletedWork>();
  const void* buffer = tensor.device_data();
  const ncclDataType_t type = nccl_dtype(tensor.dtype());
  return issue(cat("send to rank ", global_ranks_[dst], " (tag ", opts.tag, ")"),
               timeout_of(opts.timeout), {tensor}, false, [=](ncclComm* comm, cudaStream_t stream) {
                 return ncclSend(buffer, n, type, dst, comm, stream);
               });
}

WorkPtr NcclCommunicator::do_recv(Tensor& tensor, int src, const PointToPointOptions& opts) {
  check_device(CollectiveKind::Recv, tensor, "tensor");
  const auto n = static_cast<std::size_t>(tensor.numel());
  if (n == 0) return std::make_shared<CompletedWork>();
  void* buffer = tensor.device_data();
  const ncclDataType_t type = nccl_dtype(tensor.dtype());
  return issue(cat("recv from rank ", global_ranks_[src], " (tag ", opts.tag, ")"),
               timeout_of(opts.timeout), {tensor}, false, [=](ncclComm* comm, cudaStream_t stream) {
                 return ncclRecv(buffer, n, type, src, comm, stream);
               });
}

WorkPtr NcclCommunicator::do_barrier(const BarrierOptions& opts) {
  float* buffer = static_cast<float*>(barrier_buffer_);
  return issue("barrier", timeout_of(opts.timeout), {}, true,
               [=](ncclComm* comm, cudaStream_t stream) {
                 return ncclAllReduce(buffer, buffer, 1, ncclFloat32, ncclSum, comm, stream);
               });
}

std::shared_ptr<Communicator> NcclCommunicator::do_split(int color, int key) {
  const std::string split_prefix = cat(prefix_, "split", splits_++, "/");
  const std::vector<int> members =
      exchange_split(*store_, split_prefix, rank_, size(), color, key, options_.timeout, where());
  ncclComm_t child = nullptr;
  int rc = ncclSuccess;
  {
    CudaDeviceScope scope(options_.device);
    std::lock_guard<std::mutex> lock(comm_mutex_);
    if (!comm_) throw CommError(cat("split failed", where(), "the NCCL communicator was aborted"));
    ncclConfig_t config = make_config(options_);
    const auto deadline = deadline_after(options_.timeout);
    rc = ncclCommSplit(comm_, color < 0 ? NCCL_SPLIT_NOCOLOR : color, key, &child, &config);
    rc = settle(rc, comm_, deadline);
    if (rc == ncclSuccess && child) rc = settle(ncclInProgress, child, deadline);
    if (rc != ncclSuccess && child) {
      ncclCommAbort(child);
      child = nullptr;
    }
  }
  if (rc != ncclSuccess) {
    auto error =
        rc == ncclInProgress
            ? std::make_exception_ptr(
                  CommTimeoutError(cat("split timed out after ", options_.timeout.count(), " ms",
                                       where(), "ncclCommSplit did not finish")))
            : std::make_exception_ptr(CommError(cat("split failed", where(), nccl_message(rc))));
    watchdog_->fail(error);
    std::rethrow_exception(error);
  }
  if (color < 0) return nullptr;
  Setup setup;
  setup.store = store_;
  setup.prefix = cat(split_prefix, "color", color, "/");
  setup.options = options_;
  setup.comm = child;
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (members[i] == rank_) setup.rank = static_cast<int>(i);
    setup.global_ranks.push_back(global_ranks_[members[i]]);
  }
  int nccl_rank = -1;
  if (!child || ncclCommUserRank(child, &nccl_rank) != ncclSuccess || nccl_rank != setup.rank) {
    if (child) ncclCommAbort(child);
    throw CommError(cat("split failed", where(), "NCCL placed this rank at ", nccl_rank,
                        " of the new group, the store's membership at ", setup.rank));
  }
  return std::make_shared<NcclCommunicator>(std::move(setup));
}

std::shared_ptr<NcclCommunicator> make_nccl_world(std::shared_ptr<Store> store, int rank, int size,
                                                  NcclOptions options) {
  check_arg(store != nullptr, "make_nccl_world: store is null");
  check_arg(size >= 1, "make_nccl_world: size ", size, " must be at least 1");
  check_arg(rank >= 0 && rank < size, "make_nccl_world: rank ", rank, " is out of range for size ",
            size);
  validate(options);
  if (options.device < 0) {
    try {
      cuda_check(cudaGetDevice(&options.device), "cudaGetDevice");
    } catch (const std::exception& e) {
      throw CommError(cat("make_nccl_world: rank ", rank, ": ", e.what()));
    }
  }
  NcclCommunicator::Setup setup;
  setup.store = std::move(store);
  setup.prefix = options.prefix;
  setup.rank = rank;
  for (int r = 0; r < size; ++r) setup.global_ranks.push_back(r);
  setup.options = std::move(options);
  return std::make_shared<NcclCommunicator>(std::move(setup));
}

}  // namespace tensorpar::cuda
