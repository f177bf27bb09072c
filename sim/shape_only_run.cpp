#include "sim/shape_only_run.h"

#include <algorithm>
#include <exception>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <thread>

#include "core/base/error.h"
#include "core/comm/rank_context.h"
#include "core/tensor/meta_device.h"
#include "sim/shape_only_communicator.h"
#include "sim/world.h"

namespace tensorpar::sim {

namespace {

constexpr int kMaxWorldSize = 65536;

struct Outcome {
  ShapeOnlyRank result;
  std::exception_ptr error;
  std::string what;
};

void run_rank(int rank, const std::vector<int>& world,
              const std::function<void(int, ShapeOnlyRecording&)>& body, Outcome& out) {
  out.result.rank = rank;
  out.result.represented_by = rank;
  auto memory = std::make_shared<MetaMemory>();
  auto log = std::make_shared<CollectiveLog>();
  try {
    const DeviceGuard on_meta(meta_device());
    const WorldGuard guard(std::make_shared<ShapeOnlyCommunicator>(world, rank, log));
    const MetaMemoryScope account(memory);
    kernels::OpRecorder recorder;
    ShapeOnlyRecording recording(recorder, *log, *memory);
    body(rank, recording);
    out.result.ops = std::make_shared<const std::vector<kernels::OpRecord>>(recorder.take());
  } catch (const std::exception& e) {
    out.error = std::current_exception();
    out.what = e.what();
  } catch (...) {
    out.error = std::current_exception();
    out.what = "unknown exception";
  }
  if (!out.result.ops) out.result.ops = std::make_shared<const std::vector<kernels::OpRecord>>();
  out.result.collectives = std::make_shared<const CollectiveLog>(std::move(*log));
  out.result.peak_bytes = memory->peak_bytes();
  out.result.end_bytes = memory->bytes_in_use();
}

}  // namespace

std::vector<ShapeOnlyRank> run_shape_only(int world_size,
                                          const std::function<void(int, ShapeOnlyRecording&)>& body,
                                          const ShapeOnlyOptions& options) {
  check_arg(world_size >= 1 && world_size <= kMaxWorldSize,
            "run_shape_only: world_size must be in [1, ", kMaxWorldSize, "], got ", world_size);
  check_arg(options.parallelism >= 0, "run_shape_only: parallelism must be >= 0, got ",
            options.parallelism);
  std::vector<int> stand_in(static_cast<std::size_t>(world_size));
  std::iota(stand_in.begin(), stand_in.end(), 0);
  if (options.representative) {
    for (int r = 0; r < world_size; ++r) {
      const int rep = options.representative(r);
      check_arg(rep >= 0 && rep < world_size, "run_shape_only: representative(", r, ") is ", rep,
                ", not a rank of a world of ", world_size);
      check_arg(options.representative(rep) == rep, "run_shape_only: representative(", r, ") is ",
                rep, " but rank ", rep, " is represented by ", options.representative(rep));
      stand_in[static_cast<std::size_t>(r)] = rep;
    }
  }
  std::vector<int> running;
  for (int r = 0; r < world_size; ++r) {
    if (stand_in[static_cast<std::size_t>(r)] == r) running.push_back(r);
  }

  std::vector<int> world(static_cast<std::size_t>(world_size));
  std::iota(world.begin(), world.end(), 0);
  const int hardware = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const std::size_t batch =
      static_cast<std::size_t>(options.parallelism > 0 ? options.parallelism : hardware);
  // A fresh thread per rank, so that no thread-local state passes from one rank to the next.
  std::vector<std::optional<Outcome>> outcomes(static_cast<std::size_t>(world_size));
  for (std::size_t first = 0; first < running.size(); first += batch) {
    std::vector<std::thread> threads;
    for (std::size_t i = first; i < std::min(running.size(), first + batch); ++i) {
      const int r = running[i];
      outcomes[static_cast<std::size_t>(r)].emplace();
      threads.emplace_back(run_rank, r, std::cref(world), std::cref(body),
                           std::ref(*outcomes[static_cast<std::size_t>(r)]));
    }
    for (std::thread& t : threads) t.join();
  }
  for (int r : running) {
    const Outcome& o = *outcomes[static_cast<std::size_t>(r)];
    if (o.error) throw RankFailure(r, o.error, cat("rank ", r, " failed: ", o.what));
  }

  std::vector<ShapeOnlyRank> results(static_cast<std::size_t>(world_size));
  for (int r = 0; r < world_size; ++r) {
    const int rep = stand_in[static_cast<std::size_t>(r)];
    results[static_cast<std::size_t>(r)] = outcomes[static_cast<std::size_t>(rep)]->result;
    results[static_cast<std::size_t>(r)].rank = r;
    results[static_cast<std::size_t>(r)].represented_by = rep;
  }
  return results;
}

}  // namespace tensorpar::sim
