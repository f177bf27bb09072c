#pragma once
// SimCommunicator: the Communicator of the simulated backend, for ranks that are threads of one
// process (sim::run). Every rank thread holds its own SimCommunicator; those of one group share a
// GroupState (group.h) through which they exchange pointers and data in shared memory.
//
// What it approximates. The results are those of NCCL bit for bit where NCCL is deterministic
// (data movement) and deterministic here for reductions: elements are combined in rank order, so
// every rank gets identical values. Operations complete before the call returns; Work handles are
// already completed and rethrow the failure on wait(). Timing says nothing about a network: the
// sim's cost is memory bandwidth and thread scheduling. On top of NCCL it checks what NCCL
// cannot: every rank of a group must issue the same collective with the same dtype, count, op and
// root (CommMismatchError otherwise), a rank that does not arrive within the timeout is named
// (CommTimeoutError), a failed or finished rank makes its peers fail instead of hang, and a cycle
// of ranks waiting on each other fails at once with DeadlockError naming it (wait_graph.h).
//
// Memory. Tensors are reached only through their device's DeviceInterface
// (core/tensor/device_interface.h): copies and reductions run on the tensors' device, so the sim
// runs over any device (the CPU, the stand-in device, later CUDA tensors on one GPU).
//
// Algorithm. Each call of a rank publishes a descriptor and its buffer pointers in a slot of its
// group, then all ranks meet at a FutexBarrier phase (rendezvous.h). After it every rank compares
// all descriptors (a mismatch fails every rank the same way), then does its share of the work:
//
//   large messages (zero-copy, two phases):
//     all_reduce      rank r reduces block r of all W buffers and writes the result into block r
//                     of all W buffers, tile by tile (the device interface's reduce;
//                     core/tensor/host_reduce.h on the CPU)
//     reduce_scatter  rank r reduces block r of all W inputs into its output
//     all_gather      rank r copies every rank's input into its output
//     all_to_all      rank r copies block r of every rank's input into its output
//     broadcast       every rank copies the root's buffer
//     scatter         rank r copies block r of the root's input
//     then a completion phase: nobody returns (and frees its buffers) while a peer still reads.
//   small messages (one phase; host devices only, as staging is host memory; up to 32 KiB staged
//   per rank, less in groups of over 16 ranks, and for all_reduce only while W * bytes <= 64 KiB,
//   as every rank reduces the whole message):
//     each rank copies its input into its staging area before the phase and reads from the peers'
//     staging areas after it. Slots and staging areas are double-buffered by call parity: call n
//     writes parity n % 2, and a rank can only start writing call n + 2 after passing call n + 1's
//     phase, which every rank reaches only after finishing its reads of call n.
//
// Worked example: all_reduce(sum) of 16 MiB of float32 at W = 4. Rank 2 publishes its pointer and
// arrives. Once all four have arrived, rank 2 takes elements [2M, 3M) (a block, rounded to cache
// lines; M = 2^20), and for each 16 KiB tile computes ((b0 + b1) + b2) + b3 in an L1 accumulator
// and stores it into the same tile of all four buffers; then it arrives at the completion phase.
// Each rank reads 16 MiB and writes 16 MiB, the least any scheme can move. The same all_reduce of
// 12 floats: each rank copies its 48 bytes to staging[parity][rank], meets the others once, then
// sums the four staged copies into its own tensor.
//
// split(color, key) publishes (color, key) the same way; after the first phase the first member
// of each color (by key, then rank) creates the new group's GroupState, and a second phase hands
// it to the other members. send() deposits a copy in a (src, dst, tag) mailbox of the group and
// returns; recv() takes the oldest message, waiting up to the timeout.
#include <cstddef>
#include <memory>
#include <vector>

#include "core/comm/communicator.h"

namespace tensorpar::sim {

class GroupState;
struct Descriptor;

class SimCommunicator final : public Communicator {
 public:
  SimCommunicator(std::shared_ptr<GroupState> group, int rank);
  ~SimCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override;
  const std::vector<int>& global_ranks() const override;
  std::string backend() const override { return "sim"; }
  Milliseconds default_timeout() const override;

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
  struct Call;
  // Runs one collective call (see the header comment); `work` runs after the first phase.
  template <class Work>
  void run(const Call& call, Work&& work);
  void check_descriptors(int parity) const;
  Milliseconds timeout_of(const std::optional<Milliseconds>& requested) const;

  std::shared_ptr<GroupState> group_;
  int rank_;
  std::uint64_t calls_ = 0;   // collective calls issued on this group by this rank
  std::uint64_t phases_ = 0;  // barrier phases entered (names the ranks that never arrived)
  // Per-peer pointer lists of the reductions, sized once so that no call allocates.
  std::vector<const void*> srcs_;
  std::vector<void*> dsts_;
};

}  // namespace tensorpar::sim
