#include "core/cost/collective_model.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>

namespace tensorpar::cost {

namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

// One protocol's latencies and bandwidth share, the Simple protocol's read off the profile's
// top-level fields.
struct Protocol {
  const std::map<std::string, double>* base;
  double nvlink_hop, network_hop, share;
};

std::vector<Protocol> protocols_of(const CollectiveProfile& c) {
  std::vector<Protocol> out{{&c.base_latency_s, c.nvlink_hop_s, c.network_hop_s, 1.0}};
  for (const CollectiveProtocol& p : c.protocols) {
    out.push_back({&p.base_latency_s, p.nvlink_hop_s, p.network_hop_s, p.bandwidth_share});
  }
  return out;
}

// Ring steps of one call: 2(n-1) for all_reduce (reduce-scatter then all-gather), n-1 for the
// one-pass collectives, 1 for a point-to-point message. Of them, those that cross nodes: NCCL
// counts 2 x nodes for all_reduce and nodes - 1 for the others (tuning.cc).
struct Steps {
  int total = 0, network = 0;
};
Steps ring_steps(CollectiveKind kind, const GroupShape& g) {
  const int n = g.ranks, k = g.nodes;
  switch (kind) {
    case CollectiveKind::AllReduce:
    case CollectiveKind::Barrier:
      return {2 * (n - 1), k > 1 ? std::min(2 * (n - 1), 2 * k) : 0};
    case CollectiveKind::Send:
    case CollectiveKind::Recv:
      return {1, k > 1 ? 1 : 0};
    default:
      return {n - 1, k - 1};
  }
}

// The ring's bus bandwidth (Simple protocol): the slowest link class it crosses. Inside a node the
// NVSwitch ring reaches intra_node_busbw; across nodes every node's traffic leaves through the
// NICs its ranks use (one per GPU at most), at inter_node_efficiency of their line rate.
double ring_busbw(const GroupShape& g, const HardwareProfile& h) {
  double busbw = g.ranks_per_node > 1 ? h.collectives.intra_node_busbw : kInfinity;
  if (g.nodes > 1) {
    const double nics = std::min(g.ranks_per_node, h.node.nics_per_node);
    const double network = nics * h.node.nic_bandwidth * h.collectives.inter_node_efficiency;
    if (!(network > 0)) {
      throw std::invalid_argument("hardware '" + h.name + "' has no network (nics_per_node " +
                                  std::to_string(h.node.nics_per_node) + ", nic_gbs " +
                                  std::to_string(h.node.nic_bandwidth / 1e9) +
                                  ") for a group across " + std::to_string(g.nodes) + " nodes");
    }
    busbw = std::min(busbw, network);
  }
  return busbw;
}

struct Candidate {
  double seconds = kInfinity;
  std::string algorithm;
};

void consider(Candidate& best, double seconds, const char* algorithm) {
  if (seconds < best.seconds) best = {seconds, algorithm};
}

int ceil_log2(int x) {
  int r = 0;
  while ((1 << r) < x) ++r;
  return r;
}

// Interpolation in the measured points of `kind` at the world size nearest `ranks` (the larger of
// two equally near): log-log in bytes between points, the smallest point's time below it, and
// beyond the largest the last segment's marginal rate. false when `kind` has no points.
bool measured_time(CollectiveKind kind, std::int64_t bytes, int ranks, const CollectiveProfile& c,
                   double& seconds) {
  int nearest = 0;
  for (const MeasuredCollective& m : c.measured) {
    if (m.kind != kind) continue;
    const int d = std::abs(m.ranks - ranks), best = std::abs(nearest - ranks);
    if (nearest == 0 || d < best || (d == best && m.ranks > nearest)) nearest = m.ranks;
  }
  if (nearest == 0) return false;
  std::vector<std::pair<double, double>> points;  // (bytes >= 1, seconds)
  for (const MeasuredCollective& m : c.measured) {
    if (m.kind == kind && m.ranks == nearest) {
      points.emplace_back(std::max<double>(1, double(m.bytes)), m.seconds);
    }
  }
  std::sort(points.begin(), points.end());
  const double b = std::max<double>(1, double(bytes));
  if (b <= points.front().first) {
    seconds = points.front().second;
  } else if (b >= points.back().first) {
    const auto& [b1, t1] = points.back();
    double rate = b1 / t1;
    if (points.size() > 1) {
      const auto& [b0, t0] = points[points.size() - 2];
      if (t1 > t0) rate = (b1 - b0) / (t1 - t0);
    }
    seconds = t1 + (b - b1) / rate;
  } else {
    auto upper = std::upper_bound(points.begin(), points.end(), std::make_pair(b, 0.0));
    const auto& [b1, t1] = *upper;
    const auto& [b0, t0] = *(upper - 1);
    const double w = std::log(b / b0) / std::log(b1 / b0);
    seconds = std::exp(std::log(t0) + w * (std::log(t1) - std::log(t0)));
  }
  return true;
}

}  // namespace

GroupShape group_shape(const std::vector<int>& global_ranks, int gpus_per_node) {
  if (gpus_per_node < 1) {
    throw std::invalid_argument("group_shape: gpus_per_node must be >= 1, got " +
                                std::to_string(gpus_per_node));
  }
  std::map<int, int> per_node;
  for (int rank : global_ranks) ++per_node[rank / gpus_per_node];
  GroupShape g;
  g.ranks = int(global_ranks.size());
  g.nodes = int(per_node.size());
  g.ranks_per_node = 0;
  for (const auto& [node, count] : per_node) g.ranks_per_node = std::max(g.ranks_per_node, count);
  return g;
}

double busbw_factor(CollectiveKind kind, int ranks) {
  const double n = ranks;
  switch (kind) {
    case CollectiveKind::AllReduce:
      return 2 * (n - 1) / n;
    case CollectiveKind::AllGather:
    case CollectiveKind::ReduceScatter:
    case CollectiveKind::AllToAll:
    case CollectiveKind::Scatter:
      return (n - 1) / n;
    case CollectiveKind::Broadcast:
    case CollectiveKind::Send:
    case CollectiveKind::Recv:
      return 1;
    case CollectiveKind::Barrier:
      return 0;
  }
  return 1;
}

CollectiveEstimate collective_time(CollectiveKind kind, std::int64_t bytes, const GroupShape& group,
                                   const HardwareProfile& hardware) {
  if (group.ranks <= 1) return {0, "none", 0};
  const double factor = busbw_factor(kind, group.ranks);
  const double payload = kind == CollectiveKind::Barrier ? 0 : double(bytes);
  auto estimate = [&](double seconds, std::string algorithm) {
    const double busbw = seconds > 0 ? payload * factor / seconds : 0;
    return CollectiveEstimate{seconds, std::move(algorithm), busbw};
  };
  const CollectiveProfile& c = hardware.collectives;
  if (double seconds = 0; measured_time(kind, bytes, group.ranks, c, seconds)) {
    return estimate(seconds, "measured");
  }

  Candidate best;
  const Steps steps = ring_steps(kind, group);
  const double busbw = ring_busbw(group, hardware);
  const bool all_reduce = kind == CollectiveKind::AllReduce || kind == CollectiveKind::Barrier;
  for (const Protocol& p : protocols_of(c)) {
    const double wire = payload * factor / (busbw * p.share);
    if (auto ring = p.base->find("ring"); ring != p.base->end()) {
      const double latency = ring->second + (steps.total - steps.network) * p.nvlink_hop +
                             steps.network * p.network_hop;
      consider(best, latency + wire, "ring");
    }
    if (auto tree = p.base->find("tree"); all_reduce && group.nodes > 1 && tree != p.base->end()) {
      const double latency = tree->second + 2 * (ceil_log2(group.nodes) * p.network_hop +
                                                 (group.ranks_per_node - 1) * p.nvlink_hop);
      consider(best, latency + wire, "tree");
    }
  }
  if (auto nvls = c.base_latency_s.find("nvls");
      all_reduce && group.nodes == 1 && c.nvls_busbw > 0 && nvls != c.base_latency_s.end()) {
    consider(best, nvls->second + payload * factor / c.nvls_busbw, "nvls");
  }
  return estimate(best.seconds, best.algorithm);
}

}  // namespace tensorpar::cost
