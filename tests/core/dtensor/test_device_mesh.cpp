// DeviceMesh on the simulated backend: layout, coordinates, groups, slicing and errors.
#include <gtest/gtest.h>

#include "core/dtensor/device_mesh.h"
#include "core/comm/rank_context.h"
#include "sim/world.h"
#include "support/dtensor_testing.h"

namespace tensorpar {
namespace {

using testing::expect_error;

TEST(DeviceMesh, InitIsRowMajorOverTheWorld) {
  sim::run(8, [](int rank) {
    DeviceMesh mesh({2, 4}, {"dp", "tp"});
    EXPECT_EQ(mesh.ndim(), 2);
    EXPECT_EQ(mesh.size(), 8);
    EXPECT_EQ(mesh.size(0), 2);
    EXPECT_EQ(mesh.size(1), 4);
    EXPECT_EQ(mesh.get_rank(), rank);
    EXPECT_EQ(mesh.get_local_rank(0), rank / 4);
    EXPECT_EQ(mesh.get_local_rank("tp"), rank % 4);
    ASSERT_TRUE(mesh.get_coordinate().has_value());
    EXPECT_EQ(*mesh.get_coordinate(), (std::vector<std::int64_t>{rank / 4, rank % 4}));
    EXPECT_EQ(mesh.str(), "DeviceMesh([[0, 1, 2, 3], [4, 5, 6, 7]], mesh_dim_names=('dp', 'tp'))");
  });
}

TEST(DeviceMesh, GroupsHoldTheRanksSharingOtherCoordinates) {
  sim::run(6, [](int rank) {
    DeviceMesh mesh({2, 3});
    // dim 0 groups are columns, dim 1 groups are rows.
    EXPECT_EQ(mesh.group(0).global_ranks(), (std::vector<int>{rank % 3, rank % 3 + 3}));
    const int row = rank / 3 * 3;
    EXPECT_EQ(mesh.group(1).global_ranks(), (std::vector<int>{row, row + 1, row + 2}));
    EXPECT_EQ(mesh.group(0).rank(), rank / 3);
    EXPECT_EQ(mesh.group(1).rank(), rank % 3);
  });
}

TEST(DeviceMesh, ThreeDimensionalGroups) {
  sim::run(8, [](int rank) {
    DeviceMesh mesh({2, 2, 2});
    const std::vector<std::int64_t> c = {rank / 4, rank / 2 % 2, rank % 2};
    EXPECT_EQ(*mesh.get_coordinate(), c);
    EXPECT_EQ(mesh.group(0).global_ranks(), (std::vector<int>{rank % 4, rank % 4 + 4}));
    const int base1 = rank - static_cast<int>(c[1]) * 2;
    EXPECT_EQ(mesh.group(1).global_ranks(), (std::vector<int>{base1, base1 + 2}));
    const int base2 = rank - static_cast<int>(c[2]);
    EXPECT_EQ(mesh.group(2).global_ranks(), (std::vector<int>{base2, base2 + 1}));
  });
}

TEST(DeviceMesh, BuildingTheSameMeshTwiceReusesItsCommunicators) {
  sim::run(4, [] {
    DeviceMesh a({2, 2});
    DeviceMesh b({2, 2});
    EXPECT_EQ(a.group_ptr(0), b.group_ptr(0));
    EXPECT_EQ(a.group_ptr(1), b.group_ptr(1));
    EXPECT_TRUE(a == b);
  });
}

TEST(DeviceMesh, OneDimensionalWholeWorldMeshIsTheWorld) {
  sim::run(3, [] {
    DeviceMesh mesh({3});
    EXPECT_EQ(mesh.group_ptr(0), current_world_ptr());
    EXPECT_EQ(mesh.get_local_rank(), current_world().rank());
  });
}

TEST(DeviceMesh, SlicingByNameGivesTheSubMeshOfThisRank) {
  sim::run(8, [](int rank) {
    DeviceMesh mesh({2, 4}, {"dp", "tp"});
    DeviceMesh tp = mesh["tp"];
    const int row = rank / 4 * 4;
    EXPECT_EQ(tp.ranks(), (std::vector<int>{row, row + 1, row + 2, row + 3}));
    EXPECT_EQ(tp.dim_names(), (std::vector<std::string>{"tp"}));
    EXPECT_EQ(tp.get_local_rank(), rank % 4);
    EXPECT_EQ(tp.group_ptr(0), mesh.group_ptr(1));
    DeviceMesh dp = mesh["dp"];
    EXPECT_EQ(dp.ranks(), (std::vector<int>{rank % 4, rank % 4 + 4}));
    EXPECT_TRUE(mesh.slice({"dp", "tp"}) == mesh);
  });
}

TEST(DeviceMesh, SlicingThreeDimsKeepsAscendingNames) {
  sim::run(8, [](int rank) {
    DeviceMesh mesh({2, 2, 2}, {"dp", "cp", "tp"});
    DeviceMesh sub = mesh.slice({"dp", "tp"});
    EXPECT_EQ(sub.shape(), (Shape{2, 2}));
    const int cp = rank / 2 % 2;
    EXPECT_EQ(sub.ranks(), (std::vector<int>{cp * 2, cp * 2 + 1, cp * 2 + 4, cp * 2 + 5}));
    expect_error<std::out_of_range>([&] { mesh.slice({"tp", "dp"}); },
                                         "Mesh dim indices should be in ascending order.");
  });
}

TEST(DeviceMesh, ErrorsMatchPyTorch) {
  sim::run(4, [] {
    expect_error<std::invalid_argument>([] { DeviceMesh({2, 2}, {"a", "a"}); },
                                             "Each mesh_dim_name must be unique.");
    expect_error<std::invalid_argument>(
        [] { DeviceMesh({2, 2}, {"a"}); },
        "mesh_shape and mesh_dim_names should have same length!");
    expect_error<std::runtime_error>([] { DeviceMesh({2, 4}); },
                                          "Mesh should not be bigger than default world size");
    DeviceMesh unnamed({2, 2});
    expect_error<std::runtime_error>([&] { unnamed["tp"]; },
                                          "Cannot slice a DeviceMesh without mesh_dim_names!");
    DeviceMesh named({2, 2}, {"dp", "tp"});
    expect_error<std::out_of_range>([&] { named["pp"]; },
                                         "Invalid mesh_dim_names ('pp',). Valid mesh_dim_names "
                                         "are ('dp', 'tp').");
    expect_error<std::runtime_error>([&] { named.get_local_rank(); },
                                          "mesh_dim is required for a mesh of 2 dims");
    expect_error<std::invalid_argument>([] { DeviceMesh::from_ranks({2, 2}, std::vector<int>{0, 1, 1, 2}); },
                                             "rank 1 appears twice in the mesh");
    expect_error<std::invalid_argument>([] { DeviceMesh::from_ranks({2}, std::vector<int>{0, 7}); },
                                             "rank 7 is out of range for world size 4");
    expect_error<std::invalid_argument>([] { DeviceMesh({0, 2}); },
                                             "has a non-positive extent");
  });
}

TEST(DeviceMesh, RanksOutsideTheMeshHaveNoCoordinate) {
  sim::run(4, [](int rank) {
    DeviceMesh mesh = DeviceMesh::from_ranks({2}, std::vector<int>{0, 2});
    if (rank % 2 == 0) {
      ASSERT_TRUE(mesh.get_coordinate().has_value());
      EXPECT_EQ((*mesh.get_coordinate())[0], rank / 2);
      EXPECT_EQ(mesh.group(0).global_ranks(), (std::vector<int>{0, 2}));
    } else {
      EXPECT_FALSE(mesh.get_coordinate().has_value());
      expect_error<std::runtime_error>([&] { mesh.group(0); }, "is not part of");
    }
  });
}

}  // namespace
}  // namespace tensorpar
