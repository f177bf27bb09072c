// --mesh, --names and --shape of `tensorpar redistribute`, and --mesh dp=D,tp=T of `tensorpar
// train`, checked before any rank starts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>

#include "tools/cli/args.h"
#include "tools/cli/mesh_flags.h"

namespace tensorpar::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string usage_error(const std::function<void()>& parse) {
  try {
    parse();
  } catch (const UsageError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no UsageError";
  return "";
}

TEST(MeshFlags, AMeshWithOneNamePerDim) {
  const MeshFlags f = parse_mesh_flags("3x1", std::string("dp,tp"), 64);
  EXPECT_THAT(f.mesh, ElementsAre(3, 1));
  EXPECT_THAT(f.names, ElementsAre("dp", "tp"));
  EXPECT_TRUE(parse_mesh_flags("4x16", std::nullopt, 64).names.empty());
}

TEST(MeshFlags, NamesMustBeOnePerDimUniqueAndNonEmpty) {
  EXPECT_EQ(usage_error([] { parse_mesh_flags("2x2", std::string("dp"), 64); }),
            "--names 'dp' gives 1 name for the 2 dims of --mesh 2x2");
  EXPECT_EQ(usage_error([] { parse_mesh_flags("2x2", std::string("dp,dp"), 64); }),
            "--names 'dp,dp': 'dp' names two mesh dims (each name must be unique)");
  EXPECT_EQ(usage_error([] { parse_mesh_flags("2x2", std::string("a,"), 64); }),
            "--names 'a,': mesh dim 1 has an empty name");
  EXPECT_EQ(usage_error([] { parse_mesh_flags("3", std::string(""), 64); }),
            "--names '' gives 0 names for the 1 dim of --mesh 3");
}

TEST(MeshFlags, TheMeshNeedsOneToMaxRanksWithoutOverflowing) {
  EXPECT_THAT(usage_error([] { parse_mesh_flags("2x0", std::nullopt, 64); }),
              HasSubstr("--mesh 2x0: every mesh dim needs at least one rank"));
  EXPECT_THAT(usage_error([] { parse_mesh_flags("5x13", std::nullopt, 64); }),
              HasSubstr("--mesh 5x13 has more than 64 ranks"));
  // 2^32 x 2^32 would wrap to 0 in int64.
  EXPECT_THAT(usage_error([] { parse_mesh_flags("4294967296x4294967296", std::nullopt, 64); }),
              HasSubstr("has more than 64 ranks"));
  EXPECT_THAT(usage_error([] { parse_mesh_flags("2xq", std::nullopt, 64); }),
              HasSubstr("--mesh: bad shape '2xq'"));
}

TEST(MeshFlags, AShapeWhoseElementCountOverflowsIsRefused) {
  EXPECT_THAT(parse_shape_flag("10x0x5", "--shape"), ElementsAre(10, 0, 5));
  EXPECT_EQ(usage_error([] { parse_shape_flag("3037000500x3037000500", "--shape"); }),
            "--shape 3037000500x3037000500 has more elements than a tensor can index");
  EXPECT_THAT(usage_error([] { parse_shape_flag("10x", "--shape"); }),
              HasSubstr("--shape: bad shape '10x'"));
}

TEST(DataTensorMesh, DegreesByNameInAnyOrderWithOneForADimLeftOut) {
  const DataTensorMesh a = parse_data_tensor_mesh("dp=3,tp=2", 64);
  EXPECT_EQ(a.dp, 3);
  EXPECT_EQ(a.tp, 2);
  EXPECT_EQ(a.ranks(), 6);
  const DataTensorMesh b = parse_data_tensor_mesh("tp=2,dp=3", 64);
  EXPECT_EQ(b.dp, 3);
  EXPECT_EQ(b.tp, 2);
  const DataTensorMesh c = parse_data_tensor_mesh("tp=4", 64);
  EXPECT_EQ(c.dp, 1);
  EXPECT_EQ(c.tp, 4);
}

TEST(DataTensorMesh, BadTextIsAUsageErrorNamingMeshAndTheEntry) {
  EXPECT_EQ(usage_error([] { parse_data_tensor_mesh("dp=0", 64); }),
            "--mesh 'dp=0': dp needs a degree from 1 to 64, got '0'");
  EXPECT_EQ(usage_error([] { parse_data_tensor_mesh("dp=2,tp=+2", 64); }),
            "--mesh 'dp=2,tp=+2': tp needs a degree from 1 to 64, got '+2'");
  EXPECT_EQ(usage_error([] { parse_data_tensor_mesh("tp=2x", 64); }),
            "--mesh 'tp=2x': tp needs a degree from 1 to 64, got '2x'");
  EXPECT_EQ(usage_error([] { parse_data_tensor_mesh("cp=2", 64); }),
            "--mesh 'cp=2': unknown mesh dim 'cp' (train's mesh dims are dp and tp)");
  EXPECT_EQ(usage_error([] { parse_data_tensor_mesh("tp=2,tp=2", 64); }),
            "--mesh 'tp=2,tp=2': 'tp' is given twice");
  EXPECT_EQ(usage_error([] { parse_data_tensor_mesh("", 64); }),
            "--mesh '': give the degrees as dp=D,tp=T");
  EXPECT_EQ(usage_error([] { parse_data_tensor_mesh("dp=100", 64); }),
            "--mesh 'dp=100': dp needs a degree from 1 to 64, got '100'");
  EXPECT_EQ(usage_error([] { parse_data_tensor_mesh("dp=99999999999999999999", 64); }),
            "--mesh 'dp=99999999999999999999': dp needs a degree from 1 to 64, got "
            "'99999999999999999999'");
}

}  // namespace
}  // namespace tensorpar::cli
