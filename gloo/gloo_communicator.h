#pragma once
// GlooCommunicator: the Communicator over Gloo's TCP transport, one per rank (a process, or a
// thread of one process: each holds its own Gloo context, which is valid Gloo usage).
//
//   auto store = std::make_shared<HashStore>();   // or a TCPStore shared by the processes
//   auto world = gloo::make_gloo_world(store, rank, 4, {.hostname = "127.0.0.1"});
//   Tensor t = full({3}, rank + 1.0);
//   world->all_reduce(t)->wait();                  // every rank: [10, 10, 10]
//
// Rendezvous. Each communicator is a Gloo rendezvous context connected as a full mesh through the
// store, under its own key prefix: the world under options.prefix ("gloo/"), a split under
// "<parent prefix>split<n>/color<c>/" where n counts the parent's splits (identical on every rank,
// as split is collective). The transport device (and its event-loop thread) is shared by the world
// and every communicator split from it.
//
// Collectives (all complete before the call returns; Work handles are completed and rethrow):
//   all_reduce      gloo::allreduce with a reduce function per dtype and op; avg is a sum divided
//                   locally by size() (int64 truncates, like the sim); bfloat16 is reduced element
//                   by element through float32 and rounded after every step (so bf16 sums may
//                   differ from the sim's, which rounds once, by an ulp)
//   all_gather      gloo::allgather (in place when input is block rank() of output)
//   reduce_scatter  a ring over Gloo's unbound buffers: W - 1 steps, each sending one block to the
//                   next rank and reducing the block received from the previous one, so each rank
//                   sends (W-1)/W of the input (an all_reduce would send twice that)
//   all_to_all      gloo::alltoall (a real all-to-all)
//   broadcast, scatter, barrier    gloo::broadcast, gloo::scatter, gloo::barrier
//   send / recv     unbound buffers on a point-to-point slot of the tag; send copies the tensor
//                   and returns at once (the copy is freed once the peer received it), recv waits;
//                   a communicator being destroyed first gives unreceived sends up to its
//                   timeout to be received
//   Empty tensors skip the wire entirely.
//
// Errors. Gloo's timeouts become CommTimeoutError, anything else Gloo throws (a peer that closed
// its connection, a broken socket) CommError; both name the collective, this communicator's group
// and rank, and quote Gloo's message:
//   "all_reduce timed out after 2000 ms on rank 1 of group [0, 1, 2]: [...] Timed out waiting ..."
// A Gloo context that failed is not reused safely by Gloo: after an error, build a new world.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/comm/store.h"
#include "core/comm/communicator.h"

namespace gloo {
class Context;
namespace transport {
class Device;
}
}  // namespace gloo

namespace tensorpar::gloo {

struct GlooOptions {
  // Address this rank's transport binds to and advertises; "" with an empty iface: the host name.
  std::string hostname = "127.0.0.1";
  // Network interface to bind to instead of a host name ("eth0"); wins over hostname when set.
  std::string iface;
  // Default timeout of every collective and of the rendezvous.
  Milliseconds timeout{30000};
  // Namespace of this world's keys on the store.
  std::string prefix = "gloo/";
};

class GlooCommunicator final : public Communicator {
 public:
  // What a communicator is built from; make_gloo_world and split() fill it in.
  struct Setup {
    std::shared_ptr<Store> store;
    std::shared_ptr<::gloo::transport::Device> device;
    std::string prefix;
    int rank = 0;
    std::vector<int> global_ranks;
    Milliseconds timeout{30000};
  };
  // Connects the full mesh of the group through the store (collective over the group's ranks).
  explicit GlooCommunicator(Setup setup);
  ~GlooCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return static_cast<int>(global_ranks_.size()); }
  const std::vector<int>& global_ranks() const override { return global_ranks_; }
  std::string backend() const override { return "gloo"; }
  Milliseconds default_timeout() const override { return timeout_; }

  // The Gloo context underneath, for code that calls Gloo directly (benchmarks); collectives
  // issued on it must follow the same order on every rank as this communicator's.
  const std::shared_ptr<::gloo::Context>& context() const { return context_; }
  // The tag the next collective uses; raw Gloo calls sharing the context take tags from here.
  std::uint32_t next_tag() { return tag_++; }

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
  class SendWork;
  // Runs `body` and returns a completed Work; Gloo's and the store's exceptions become
  // CommTimeoutError / CommError naming `kind`, the group and this rank.
  template <class Body>
  WorkPtr run(CollectiveKind kind, Milliseconds timeout, Body&& body);
  Milliseconds timeout_of(const std::optional<Milliseconds>& requested) const {
    return requested.value_or(timeout_);
  }

  std::shared_ptr<Store> store_;
  std::shared_ptr<::gloo::transport::Device> device_;
  std::shared_ptr<::gloo::Context> context_;
  std::string prefix_;
  int rank_;
  std::vector<int> global_ranks_;
  Milliseconds timeout_;
  std::uint32_t tag_ = 0;           // collective calls so far: the Gloo tag of the next one
  std::uint64_t splits_ = 0;        // split calls so far: names the next split's key prefix
  std::vector<std::byte> staging_;  // reduce_scatter's two staged blocks, kept across calls
  std::mutex sends_mutex_;
  std::vector<std::shared_ptr<SendWork>> sends_;  // sends whose peer may not have received yet
};

// The world communicator of `rank` among `size` ranks meeting through `store`. Collective: every
// rank calls it with the same size and options.prefix. Throws std::invalid_argument for a bad rank
// or size, CommTimeoutError when the others do not show up within options.timeout.
std::shared_ptr<GlooCommunicator> make_gloo_world(std::shared_ptr<Store> store, int rank, int size,
                                                  const GlooOptions& options = {});

}  // namespace tensorpar::gloo
