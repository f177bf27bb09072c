// The core of the redistribute matrix (tests/core/test_redistribute_matrix.cpp) on Gloo: a 1-D
// mesh of W = 3 rank threads with tensors of rank 1 and 2 (even, uneven and with empty shards) and
// a 2 x 2 mesh with uneven tensors, every source in {R, S(d), P(sum), P(max)} to every target in
// {R, S(d)}. Integer data: results are exact. Each case checks the local shard, full_tensor and the
// collective counts against the plan, so the mesh's split communicators and every collective of the
// styles run on real sockets.
#include <gtest/gtest.h>

#include <map>

#include "core/comm/comm_debug_mode.h"
#include "core/dtensor/dtensor.h"
#include "core/comm/rank_context.h"
#include "core/dtensor/redistribute.h"
#include "gloo_testing.h"
#include "support/dtensor_testing.h"

namespace tensorpar {
namespace {

using testing::iota;
using testing::slice_of;
using testing::plan_counts;
using testing::reduced_value;

std::vector<Placements> product_of(const std::vector<Placement>& choices, std::size_t ndim) {
  std::vector<Placements> out{{}};
  for (std::size_t i = 0; i < ndim; ++i) {
    std::vector<Placements> next;
    for (const auto& prefix : out) {
      for (const auto& p : choices) {
        Placements ps = prefix;
        ps.push_back(p);
        next.push_back(std::move(ps));
      }
    }
    out = std::move(next);
  }
  return out;
}

void expect_matrix_passes_on_gloo(const Shape& mesh_shape) {
  const int world = static_cast<int>(numel(mesh_shape));
  std::vector<std::vector<std::string>> failures(world);
  std::vector<std::int64_t> cases(world);
  gloo_testing::run_gloo(world, [&](Communicator& comm, int rank) {
    WorldGuard guard(comm.shared_from_this());
    DeviceMesh mesh(mesh_shape);
    const auto& coord = *mesh.get_coordinate();
    for (std::int64_t nd = 1; nd <= 2; ++nd) {
      std::vector<Placement> sources{Replicate(), Partial(), Partial(ReduceOp::Max)};
      std::vector<Placement> targets{Replicate()};
      for (std::int64_t d = 0; d < nd; ++d) {
        sources.push_back(Shard(d));
        targets.push_back(Shard(d));
      }
      const Shape even{2 * world, world}, uneven{2 * world + 1, world + 3}, small{world - 1, 1};
      // 2-D meshes take the uneven shape only, to keep the test to seconds on real sockets.
      std::vector<Shape> shapes{uneven};
      if (mesh_shape.size() == 1) shapes = {even, uneven, small};
      for (Shape shape : shapes) {
        shape.resize(static_cast<std::size_t>(nd));
        const Tensor g = iota(shape, DType::Float32);
        for (const Placements& src : product_of(sources, mesh_shape.size())) {
          Tensor local = slice_of(g, local_shard_of(shape, mesh_shape, src, coord));
          double shift = 0;
          for (std::size_t m = 0; m < src.size(); ++m) {
            if (src[m].is_partial()) shift += static_cast<double>(coord[m]);
          }
          FromLocalOptions opts;
          opts.shape = shape;
          const DTensor source = DTensor::from_local(local + shift, mesh, src, opts);
          const Tensor expected = reduced_value(g, mesh_shape, src);
          for (const Placements& dst : product_of(targets, mesh_shape.size())) {
            ++cases[rank];
            const std::string label = cat(shape_str(shape), " ", placements_str(src), " -> ",
                                          placements_str(dst), " on rank ", rank, ": ");
            CommDebugMode counting;
            const DTensor out = source.redistribute(dst);
            if (counting.counts_by_name() !=
                plan_counts(mesh_shape, plan_redistribute(mesh_shape, src, dst))) {
              failures[rank].push_back(label + "collective counts differ");
            }
            const Tensor want = slice_of(expected, local_shard_of(shape, mesh_shape, dst, coord));
            if (!equal(out.to_local(), want))
              failures[rank].push_back(label + "local shard differs");
            if (!equal(out.full_tensor(), expected))
              failures[rank].push_back(label + "full differs");
          }
        }
      }
    }
  });
  EXPECT_GT(cases[0], 0);
  for (int r = 0; r < world; ++r) {
    EXPECT_TRUE(failures[r].empty())
        << failures[r].size() << " failures of " << cases[r] << " cases on mesh "
        << shape_str(mesh_shape) << ", first: " << failures[r].front();
  }
}

TEST(GlooRedistribute, OneDimensionalMeshOfThree) { expect_matrix_passes_on_gloo({3}); }

TEST(GlooRedistribute, TwoByTwoMesh) { expect_matrix_passes_on_gloo({2, 2}); }

}  // namespace
}  // namespace tensorpar
