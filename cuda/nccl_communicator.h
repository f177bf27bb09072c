#pragma once
// NcclCommunicator: the Communicator over NCCL, one per GPU (one process per GPU under
// `tensorpar run`, LOCAL_RANK picking the device), for CUDA tensors.
//
//   auto store = std::make_shared<TCPStore>(...);    // the job's store
//   NcclOptions o;  o.device = local_rank;
//   auto world = cuda::make_nccl_world(store, rank, size, o);
//   world->all_reduce(t)->wait();     // the compute stream waits; the host goes on
//
// Initialisation. Rank 0 makes NCCL's unique id and publishes it on the store under
// "<prefix>unique_id"; the others read it there (cuda/nccl_rendezvous.h), and every rank calls
// ncclCommInitRankConfig in NCCL's non-blocking mode, so that a peer that never arrives is a
// CommTimeoutError after options.timeout, not a hang.
//
// Streams. Each communicator has its own communication stream. A collective records an event on
// the compute stream (NcclOptions::compute_stream) and makes the communication stream wait for
// it (inputs written before the call are read), runs there, and records its end on an event the
// Work keeps: Work::wait() makes the compute stream wait for that event without blocking the host
// (cuda/nccl_work.h). The Work keeps its tensors alive until the collective has finished.
//
// Collectives.
//   all_reduce, all_gather, reduce_scatter, broadcast   ncclAllReduce, ncclAllGather,
//                      ncclReduceScatter, ncclBroadcast (in place where the interface allows)
//   all_to_all, scatter   grouped ncclSend/ncclRecv (ncclGroupStart/End), this rank's own block
//                      copied on the communication stream
//   send / recv        ncclSend / ncclRecv. NCCL matches them in call order per pair of ranks;
//                      it has no tags, so the tag is not used for matching: post the messages of
//                      each pair in the same order on both sides
//   barrier            an all_reduce of one value on the communication stream; its Work's wait()
//                      blocks the host (a barrier is about the host)
//   Reduce ops: sum, avg (ncclAvg: floats pre-multiply by 1/size, integers divide the sum,
//   truncating), max, min, product; dtypes f32, f64, i64, bf16. Empty tensors skip NCCL.
//   Tensors must be on this communicator's CUDA device (std::invalid_argument otherwise).
//
// split(color, key) exchanges every rank's (color, key) on the store (to know the new group's
// global ranks) and calls ncclCommSplit; a negative color gets nullptr. subgroup() and so every
// DeviceMesh dim go through it.
//
// Failures. A watchdog thread (cuda/nccl_watchdog.h) checks each Work's deadline and
// ncclCommGetAsyncError; on a timeout or an asynchronous error it aborts the communicator
// (ncclCommAbort) and fails the pending Works with CommTimeoutError or CommError naming the
// collective, the rank and the group:
//   "all_reduce timed out after 2000 ms on rank 1 of group [0, 1]: it did not finish ..."
// After that every collective of the communicator fails at once. An NCCL call that fails when
// issued gives a Work that rethrows CommError quoting NCCL's message.
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/comm/communicator.h"
#include "core/comm/store.h"
#include "cuda/nccl_options.h"

struct ncclComm;

namespace tensorpar::cuda {

class CommEvent;
class CommStream;
class NcclWatchdog;

class NcclCommunicator final : public Communicator {
 public:
  // What a communicator is built from: make_nccl_world and split() fill it in.
  struct Setup {
    std::shared_ptr<Store> store;
    std::string prefix;  // this communicator's keys on the store
    int rank = 0;
    std::vector<int> global_ranks;  // the group's world ranks in group-rank order
    NcclOptions options;            // options.device resolved (>= 0)
    ncclComm* comm = nullptr;       // an initialised NCCL communicator (from a split), or null:
                                    // initialise one through the store's unique id
  };
  explicit NcclCommunicator(Setup setup);
  // Stops the watchdog, then finalises and destroys the NCCL communicator (aborts it when that
  // does not finish within the timeout or the communicator failed).
  ~NcclCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return static_cast<int>(global_ranks_.size()); }
  const std::vector<int>& global_ranks() const override { return global_ranks_; }
  std::string backend() const override { return "nccl"; }
  Milliseconds default_timeout() const override { return options_.timeout; }

  int device() const { return options_.device; }
  const NcclOptions& options() const { return options_; }
  // The failure that aborted this communicator, or null.
  std::exception_ptr failure() const;

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

 private:
  struct Issue;
  // Checks that `t` is a CUDA tensor on this communicator's device.
  void check_device(CollectiveKind kind, const Tensor& t, const char* name) const;
  // Orders the communication stream after the compute stream, runs `launch(comm, stream)` under
  // the communicator's lock, records the end and returns the Work; failures become a Work that
  // rethrows CommError naming `what`.
  WorkPtr issue(const std::string& what, Milliseconds timeout, std::vector<Tensor> keep_alive,
                bool host_blocking, const std::function<int(ncclComm*, cudaStream_t)>& launch);
  // NCCL's state after a call that returned `rc`: waits out ncclInProgress (non-blocking mode)
  // up to `deadline`; the final result. Call with comm_mutex_ held.
  int settle(int rc, ncclComm* comm, DeadlineClock::time_point deadline);
  Milliseconds timeout_of(const std::optional<Milliseconds>& requested) const {
    return requested.value_or(options_.timeout);
  }
  std::string where() const;
  void abort_comm();

  std::shared_ptr<Store> store_;
  std::string prefix_;
  int rank_;
  std::vector<int> global_ranks_;
  NcclOptions options_;
  mutable std::mutex comm_mutex_;  // serialises every use of comm_ (issuing, polling, abort)
  ncclComm* comm_ = nullptr;
  std::unique_ptr<CommStream> stream_;
  std::unique_ptr<CommEvent> ready_;
  void* barrier_buffer_ = nullptr;  // one float on the device: barrier's all_reduce
  std::uint64_t splits_ = 0;        // split calls so far: names the next split's store keys
  std::shared_ptr<NcclWatchdog> watchdog_;
};

// The world communicator of `rank` among `size` ranks meeting through `store`. Collective:
// every rank calls it with the same size and options.prefix. std::invalid_argument for a bad
// rank, size or option; CommTimeoutError when the others do not arrive within options.timeout;
// CommError when NCCL or CUDA fail (no device, NCCL's own errors), quoting their message.
std::shared_ptr<NcclCommunicator> make_nccl_world(std::shared_ptr<Store> store, int rank, int size,
                                                  NcclOptions options = {});

// NCCL's version as "2.28.9" (of the library loaded, not the header).
std::string nccl_version();

}  // namespace tensorpar::cuda
