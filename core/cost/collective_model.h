#pragma once
// Time of one collective on a hardware profile (hardware.h).
//
//   GroupShape g = group_shape({0, 1, 2, 3, 4, 5, 6, 7}, 8);   // 8 ranks on 1 node
//   collective_time(CollectiveKind::AllReduce, 256 << 20, g, h100);
//     // nvls: 25 us + 256 MiB x 2 x 7/8 / 480 GB/s = 1.004 ms (the ring, Simple protocol, would
//     // take 8.4 us + 14 x 3.4 us + 256 MiB x 2 x 7/8 / 370 GB/s = 1.326 ms)
//
// Algorithms (the cheapest applicable one is chosen, as NCCL's tuner does):
//   ring  base + 2(n-1) hops (all_reduce) or (n-1) hops + S x factor / busbw, where busbw is the
//         slowest link class the ring crosses: intra-node busbw inside a node; across nodes the
//         NICs a node's ranks use (min(ranks on the node, NICs per node)) x their bandwidth x
//         inter_node_efficiency. Of the hops, 2 x nodes (all_reduce) or nodes - 1 (the others)
//         are network hops, the rest NVLink hops (NCCL's count).
//   tree  all_reduce only, across nodes: base + 2 (ceil(log2 nodes) network hops + (ranks per
//         node - 1) NVLink hops); bandwidth as the ring's.
//   nvls  all_reduce inside one node when nvls_busbw > 0: base + S x factor / nvls_busbw.
// Ring and tree are tried with every protocol of the profile: Simple (the top-level latencies,
// the full busbw) and the others listed (LL, LL128: their latencies, a share of the busbw), so
// small messages take LL's 6.6 us + 0.6 us per hop and large ones Simple's bandwidth. The tree
// uses the ring's hop latencies (NCCL's own tree constants differ, most for LL across the
// network: 5.0 us against the ring's 2.7).
// Send/recv: one hop; broadcast and scatter: n-1 hops; barrier: an all_reduce of nothing.
// A group of one rank costs 0. Measured points in the profile replace the formula for their kind:
// log-log interpolation in bytes at the measured world size nearest the group's (the larger of
// two equally near), the smallest point's time below it, the last segment's rate beyond it.
#include <cstdint>
#include <string>
#include <vector>

#include "core/cost/hardware.h"

namespace tensorpar::cost {

struct GroupShape {
  int ranks = 1;
  int nodes = 1;           // distinct nodes the group spans
  int ranks_per_node = 1;  // the most ranks of the group on one node
};
// Global ranks are placed on nodes in blocks of gpus_per_node (rank / gpus_per_node).
GroupShape group_shape(const std::vector<int>& global_ranks, int gpus_per_node);

struct CollectiveEstimate {
  double seconds = 0;
  std::string algorithm;  // "ring", "tree", "nvls", "measured", "none" (one rank)
  double busbw = 0;       // B/s the estimate implies (nccl-tests' busbw)
};

// nccl-tests' factor: busbw = algbw x factor.
double busbw_factor(CollectiveKind kind, int ranks);

CollectiveEstimate collective_time(CollectiveKind kind, std::int64_t bytes, const GroupShape& group,
                                   const HardwareProfile& hardware);

}  // namespace tensorpar::cost
