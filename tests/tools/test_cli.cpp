// The `tensorpar` command, run as a user would: exit codes and the --json report.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <string>

#include "tools/cli_testing.h"

namespace {

using tensorpar::cli_testing::Result;
using tensorpar::cli_testing::run_cli;

using ::testing::HasSubstr;

TEST(CliRedistribute, JsonReportsPlanCountsAndVerification) {
  const Result r =
      run_cli("redistribute --mesh 2x2 --names dp,tp --shape 10x5 --from S0,S1 --to S1,S0 --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("\"mesh\":[2,2]"));
  EXPECT_THAT(r.out, HasSubstr("\"from\":[\"S(0)\",\"S(1)\"]"));
  EXPECT_THAT(r.out, HasSubstr("\"to\":[\"S(1)\",\"S(0)\"]"));
  EXPECT_THAT(r.out, HasSubstr("\"path\":\"S(0)S(1) -> S(0)R -> S(1)R -> S(1)S(0)\""));
  EXPECT_THAT(r.out, HasSubstr("{\"mesh_dim\":1,\"from\":\"S(1)\",\"to\":\"R\","
                               "\"collective\":\"all_gather\",\"bytes_per_rank\":"));
  EXPECT_THAT(r.out, HasSubstr("{\"mesh_dim\":0,\"from\":\"S(0)\",\"to\":\"S(1)\","
                               "\"collective\":\"all_to_all\""));
  EXPECT_THAT(r.out, HasSubstr("{\"mesh_dim\":1,\"from\":\"R\",\"to\":\"S(0)\","
                               "\"collective\":\"none\",\"bytes_per_rank\":0}"));
  EXPECT_THAT(r.out, HasSubstr("\"counts\":{\"all_gather\":1,\"all_to_all\":1}"));
  EXPECT_THAT(r.out, HasSubstr("\"verified\":true}"));
}

TEST(CliRedistribute, PartialSourceOnAnOddMesh) {
  const Result r = run_cli("redistribute --mesh 3 --shape 7x2 --from P --to S1 --dtype f64 --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("\"counts\":{\"reduce_scatter\":1}"));
  EXPECT_THAT(r.out, HasSubstr("\"verified\":true}"));
}

TEST(CliRedistribute, HumanOutputShowsPlanTablesAndVerification) {
  const Result r = run_cli("redistribute --mesh 2x2 --shape 10x5 --from S0,S0 --to R,S1");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("plan: S(0)[0]S(0)[1] -> S(0)S(1) -> RS(1)"));
  EXPECT_THAT(r.out, HasSubstr("before [S(0), S(0)]"));
  EXPECT_THAT(r.out, HasSubstr("after [R, S(1)]"));
  EXPECT_THAT(r.out, HasSubstr("verification: OK"));
}

TEST(CliRedistribute, BadArgumentsGiveAUsageErrorAndExitTwo) {
  for (const char* args : {"redistribute --mesh 2x2 --shape 10x5 --from S0 --to R,R",
                           "redistribute --mesh 2x2 --shape 10x5 --from S0,X --to R,R",
                           "redistribute --mesh 2x2 --shape 10x5 --from S0,S1",
                           "redistribute --mesh 2x2 --shape 10x5 --from S0,S1 --to R,R --bogus",
                           "redistribute --mesh 4 --shape 8 --from S0 --to P",
                           "redistribute --mesh 2xq --shape 8 --from S0 --to R"}) {
    const Result r = run_cli(args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.out;
    EXPECT_THAT(r.out, HasSubstr("usage: tensorpar redistribute")) << args;
  }
  EXPECT_THAT(run_cli("redistribute --mesh 2x2 --shape 10x5 --from S0,S1 --to R,R --bogus").out,
              HasSubstr("unknown option '--bogus'"));
  EXPECT_THAT(run_cli("redistribute --mesh 4 --shape 8 --from S0 --to P").out,
              HasSubstr("redistribute from S(0) to P(sum) is not supported"));
}

TEST(Cli, UnknownCommandExitsTwo) {
  const Result r = run_cli("frobnicate");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.out, HasSubstr("unknown command 'frobnicate'"));
}

TEST(CliCheck, JsonListsEveryMatchingOpWithItsResults) {
  const Result r = run_cli("check --op softmax --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, ::testing::HasSubstr("\"op\":\"softmax\""));
  EXPECT_THAT(r.out, ::testing::HasSubstr("\"op\":\"log_softmax\""));
  EXPECT_THAT(r.out, ::testing::HasSubstr("\"rule_failures\":0"));
  EXPECT_THAT(r.out, ::testing::HasSubstr("\"gradcheck_max_rel_err\":"));
  EXPECT_THAT(r.out, ::testing::HasSubstr("\"ok\":true"));
}

TEST(CliCheck, TableAndUnknownOp) {
  const Result table = run_cli("check --op linear");
  EXPECT_EQ(table.exit_code, 0) << table.out;
  EXPECT_THAT(table.out, ::testing::HasSubstr("linear_3d"));
  EXPECT_THAT(table.out, ::testing::HasSubstr("all checks passed"));
  const Result bad = run_cli("check --op no_such_op");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.out, ::testing::HasSubstr("no op matches --op 'no_such_op'"));
}


}  // namespace
