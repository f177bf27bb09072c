#pragma once
// Time of one collective on a hardware profile (hardware.h).
//
//   GroupShape g = group_shape({0, 1, 2, 3, 4, 5, 6, 7}, 8);   // 8 ranks on 1 node
//   collective_time(CollectiveKind::AllReduce, 256 << 20, g, h100).seconds;
//     // ring: 8.4 us + 14 x 3.4 us + 256 MiB x 2 x 7/8 / 370 GB/s ~ 1.33 ms
//
// Algorithms (the cheapest applicable one is chosen, as NCCL's tuner does):
//   ring  base + 2(n-1) hops (all_reduce) or (n-1) hops + S x factor / busbw, where busbw is the
//         slowest link class the ring crosses: intra-node busbw inside a node; across nodes the
//         NICs a node's ranks share x inter_node_efficiency.
//   tree  all_reduce only, across nodes: base + 2 log2(nodes) network hops + intra-node hops;
//         bandwidth as the ring's.
//   nvls  all_reduce inside one node when nvls_busbw > 0.
// A group of one rank costs 0. Measured points in the profile replace the formula for their kind.
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
