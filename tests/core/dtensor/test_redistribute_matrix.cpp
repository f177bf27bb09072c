// The exhaustive redistribute matrix on the simulated backend.
//
// For every mesh below, every tensor rank 1..3 and three shapes (even, uneven, smaller than the
// mesh so that shards are empty), every source placement per mesh dim from {R, S(d), P(sum),
// P(max)} goes to every target from {R, S(d)}. Data is integer-valued, so results are exact in
// float32 and float64. Partial sources hold G + (sum of their Partial coordinates), whose
// reduction has the closed form
//   N * (G + sum over max dims of (n_m - 1) + sum over sum dims of (n_s - 1) / 2)
// with N the product of the sum dims' sizes (any reduction order gives the same value).
// Each case checks every rank's local shard against the chunk rule, full_tensor against that
// value, the collectives against the plan, and that the source DTensor is left untouched.
#include <gtest/gtest.h>

#include <functional>
#include <map>

#include "core/comm/comm_debug_mode.h"
#include "core/dtensor/dtensor.h"
#include "core/dtensor/redistribute.h"
#include "sim/world.h"
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

std::vector<Shape> shapes_for(std::int64_t world, std::int64_t tensor_ndim) {
  const Shape even{2 * world, world, world};
  const Shape uneven{2 * world + 1, world + 3, world + 1};
  const Shape small{std::max<std::int64_t>(world - 1, 1), 1, 2};
  std::vector<Shape> shapes;
  for (const Shape& s : {even, uneven, small}) {
    shapes.emplace_back(s.begin(), s.begin() + tensor_ndim);
  }
  return shapes;
}

// Runs the whole matrix for one mesh inside one sim run; returns the failures of all ranks.
std::vector<std::string> run_matrix(const Shape& mesh_shape, DType dtype, std::int64_t* cases) {
  const int world = static_cast<int>(numel(mesh_shape));
  std::vector<std::vector<std::string>> per_rank = sim::run(world, [&](int rank) {
    std::vector<std::string> failures;
    DeviceMesh mesh(mesh_shape);
    const auto& coord = *mesh.get_coordinate();
    std::int64_t count = 0;
    for (std::int64_t nd = 1; nd <= 3; ++nd) {
      std::vector<Placement> sources{Replicate(), Partial(), Partial(ReduceOp::Max)};
      std::vector<Placement> targets{Replicate()};
      for (std::int64_t d = 0; d < nd; ++d) {
        sources.push_back(Shard(d));
        targets.push_back(Shard(d));
      }
      const auto all_src = product_of(sources, mesh_shape.size());
      const auto all_dst = product_of(targets, mesh_shape.size());
      for (const Shape& shape : shapes_for(world, nd)) {
        const Tensor g = iota(shape, dtype);
        for (const Placements& src : all_src) {
          Tensor local = slice_of(g, local_shard_of(shape, mesh_shape, src, coord));
          double shift = 0;
          for (std::size_t m = 0; m < src.size(); ++m) {
            if (src[m].is_partial()) shift += static_cast<double>(coord[m]);
          }
          local = local + shift;
          FromLocalOptions opts;
          opts.shape = shape;
          const DTensor source = DTensor::from_local(local, mesh, src, opts);
          const Tensor source_before = local.clone();
          const Tensor expected = reduced_value(g, mesh_shape, src);
          for (const Placements& dst : all_dst) {
            ++count;
            const std::string label = cat(shape_str(shape), " ", placements_str(src), " -> ",
                                          placements_str(dst), " on rank ", rank, ": ");
            CommDebugMode comm;
            const DTensor out = source.redistribute(dst);
            const auto counted = comm.counts_by_name();
            const auto planned =
                plan_counts(mesh_shape, plan_redistribute(mesh_shape, src, dst));
            if (counted != planned) failures.push_back(label + "collective counts differ");
            const Tensor want = slice_of(expected, local_shard_of(shape, mesh_shape, dst, coord));
            if (!equal(out.to_local(), want)) failures.push_back(label + "local shard differs");
            if (!equal(out.full_tensor(), expected)) failures.push_back(label + "full differs");
            if (!equal(source.to_local(), source_before)) {
              failures.push_back(label + "source changed");
            }
          }
        }
      }
    }
    if (rank == 0) *cases = count;
    return failures;
  });
  std::vector<std::string> all;
  for (auto& f : per_rank) all.insert(all.end(), f.begin(), f.end());
  return all;
}

void expect_matrix_passes(const Shape& mesh, DType dtype) {
  std::int64_t cases = 0;
  const auto failures = run_matrix(mesh, dtype, &cases);
  EXPECT_GT(cases, 0);
  EXPECT_TRUE(failures.empty()) << failures.size() << " failures of " << cases << " cases on mesh "
                                << shape_str(mesh) << ", first: " << failures.front();
}

class OneDimensionalMatrix : public ::testing::TestWithParam<int> {};

TEST_P(OneDimensionalMatrix, EveryTransitionIsExact) {
  expect_matrix_passes({GetParam()}, DType::Float32);
  expect_matrix_passes({GetParam()}, DType::Float64);
}

INSTANTIATE_TEST_SUITE_P(MeshSizes, OneDimensionalMatrix, ::testing::Range(1, 9));

class TwoDimensionalMatrix : public ::testing::TestWithParam<Shape> {};

TEST_P(TwoDimensionalMatrix, EveryTransitionIsExact) {
  expect_matrix_passes(GetParam(), DType::Float32);
}

INSTANTIATE_TEST_SUITE_P(Meshes, TwoDimensionalMatrix,
                         ::testing::Values(Shape{2, 2}, Shape{2, 3}, Shape{3, 2}, Shape{2, 4},
                                           Shape{4, 2}));

TEST(ThreeDimensionalMatrix, EveryTransitionIsExact) {
  expect_matrix_passes({2, 2, 2}, DType::Float32);
}

TEST(TwoDimensionalMatrixF64, EveryTransitionIsExact) {
  expect_matrix_passes({2, 3}, DType::Float64);
}

}  // namespace
}  // namespace tensorpar
