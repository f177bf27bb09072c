#include "tools/calibrate/sim_collectives.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "core/comm/rank_context.h"
#include "core/tensor/tensor.h"
#include "sim/world.h"
#include "tools/calibrate/stopwatch.h"

namespace tensorpar::calibrate {
namespace {

constexpr CollectiveKind kKinds[] = {CollectiveKind::AllReduce, CollectiveKind::AllGather,
                                     CollectiveKind::ReduceScatter};
constexpr std::int64_t kFloat = 4;

// nccl-tests' size, rounded down to whole floats per rank (at least one).
std::int64_t per_rank_floats(std::int64_t bytes, int world) {
  return std::max<std::int64_t>(1, bytes / kFloat / world);
}

int samples_for(std::int64_t bytes, bool quick) {
  if (quick) return 5;
  return bytes >= (4 << 20) ? 7 : bytes >= (256 << 10) ? 15 : 31;
}

// The lower quartile of the samples of one kind and size at this rank's world (every rank
// returns it).
double time_collective(CollectiveKind kind, std::int64_t per_rank, int samples,
                       std::vector<double>& starts, std::vector<double>& ends, int rank) {
  Communicator& world = current_world();
  const int n = world.size();
  Tensor in = full({kind == CollectiveKind::ReduceScatter ? per_rank * n : per_rank}, 1.0);
  Tensor out = zeros({kind == CollectiveKind::ReduceScatter ? per_rank : per_rank * n});
  const auto call = [&] {
    switch (kind) {
      case CollectiveKind::AllReduce:
        world.all_reduce(out)->wait();
        break;
      case CollectiveKind::AllGather:
        world.all_gather(out, in)->wait();
        break;
      default:
        world.reduce_scatter(out, in)->wait();
        break;
    }
  };
  call();  // warm: buffers touched, the group's state made
  std::vector<double> times;
  for (int s = 0; s < samples; ++s) {
    world.barrier()->wait();
    starts[static_cast<std::size_t>(rank)] = seconds_now();
    call();
    ends[static_cast<std::size_t>(rank)] = seconds_now();
    world.barrier()->wait();  // every rank's stamps are written
    times.push_back(*std::max_element(ends.begin(), ends.end()) -
                    *std::max_element(starts.begin(), starts.end()));
    world.barrier()->wait();  // every rank has read them before the next sample writes
  }
  return lower_quartile(std::move(times));
}

// Keeps the calling rank thread busy for `seconds`: a world's threads start wherever the scheduler
// put them (two on one core, often), and a collective between threads that share a core costs a
// waiter's whole spin (sim/rendezvous.h, 20 us); within tens of milliseconds of work the scheduler
// spreads them over the cores, where a training run's rank threads spend their time.
void settle(double seconds) {
  const double start = seconds_now();
  volatile std::uint64_t spins = 0;
  while (seconds_now() - start < seconds) spins = spins + 1;
}

}  // namespace

std::vector<cost::MeasuredCollective> measure_sim_collectives(bool quick) {
  const std::vector<std::int64_t> sizes =
      quick ? std::vector<std::int64_t>{4 << 10, 256 << 10, 4 << 20}
            : std::vector<std::int64_t>{1 << 10,   4 << 10, 16 << 10, 64 << 10,
                                        256 << 10, 1 << 20, 4 << 20,  16 << 20};
  std::vector<cost::MeasuredCollective> points;
  for (int world = 1; world <= 4; ++world) {
    std::vector<double> starts(static_cast<std::size_t>(world)), ends(starts.size());
    std::vector<cost::MeasuredCollective> mine;
    sim::run(world, [&](int rank) {
      settle(0.05);
      for (const CollectiveKind kind : kKinds) {
        for (const std::int64_t bytes : sizes) {
          const std::int64_t per_rank = per_rank_floats(bytes, world);
          const double seconds =
              time_collective(kind, per_rank, samples_for(bytes, quick), starts, ends, rank);
          if (rank == 0) mine.push_back({kind, world, per_rank * world * kFloat, seconds});
        }
      }
    });
    points.insert(points.end(), mine.begin(), mine.end());
  }
  return points;
}

}  // namespace tensorpar::calibrate
