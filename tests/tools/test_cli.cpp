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
using ::testing::Not;

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
                           "redistribute --mesh 4 --shape 8 --from R --to P",
                           "redistribute --mesh 2 --shape 8 --from R --to 'P(max)'",
                           "redistribute --mesh 2x2 --names dp --shape 8 --from R,R --to R,R",
                           "redistribute --mesh 2x2 --names dp,dp --shape 8 --from R,R --to R,R",
                           "redistribute --mesh 2x2 --names a, --shape 8 --from R,R --to R,R",
                           "redistribute --mesh 65 --shape 8 --from R --to R",
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

TEST(CliRedistribute, BadNamesAndPartialTargetsAreNamedBeforeAnyRankRuns) {
  EXPECT_THAT(run_cli("redistribute --mesh 2x2 --names dp --shape 8 --from R,R --to R,R").out,
              HasSubstr("--names 'dp' gives 1 name for the 2 dims of --mesh 2x2"));
  EXPECT_THAT(run_cli("redistribute --mesh 2x2 --names a, --shape 8 --from R,R --to R,R").out,
              HasSubstr("--names 'a,': mesh dim 1 has an empty name"));
  const Result dtype = run_cli("redistribute --mesh 2 --shape 8 --from R --to R --dtype f16");
  EXPECT_EQ(dtype.exit_code, 2) << dtype.out;
  EXPECT_THAT(dtype.out, HasSubstr("--dtype must be f32, f64 or i64, got 'f16'"));
  const Result partial = run_cli("redistribute --mesh 3 --shape 8 --from R --to P");
  EXPECT_THAT(partial.out, HasSubstr("--to [P(sum)]: a Partial target needs the same Partial in "
                                     "--from (mesh dim 0 has R)"));
  EXPECT_THAT(partial.out, Not(HasSubstr("rank 0 failed")));
  // The same Partial on both sides is nothing to do, and allowed.
  EXPECT_EQ(run_cli("redistribute --mesh 3 --shape 8 --from P --to P").exit_code, 0);
}

TEST(CliRedistribute, AShapePastTheMachinesMemoryIsRefusedUpFront) {
  const Result r = run_cli("redistribute --mesh 2 --shape 1000000x1000000 --from R --to S0");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--shape 1000000x1000000 (float32) on --mesh 2 needs at least "
                               "21.8 TiB of memory, more than this machine's "));
  EXPECT_THAT(r.out, Not(HasSubstr("bad_alloc")));
}

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
TEST(CliRedistribute, AnAllocationThatStillFailsNamesWhatItWasFor) {
  // 20000 x 20000 passes the memory estimate, but 1 GB of address space (ulimit -v) does not
  // hold it: the failure names the tensor instead of a bare std::bad_alloc. (Sanitizer builds
  // reserve far more address space than that, so they skip this.)
  const Result r = tensorpar::cli_testing::run_shell(
      "ulimit -v 1000000; " + std::string(TENSORPAR_CLI_PATH) +
      " redistribute --mesh 2 --shape 20000x20000 --from R --to S0 2>&1");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("failed: out of memory: cannot build the [20000, 20000] float32 "
                               "input (4.5 GiB with its float64 staging)"));
  EXPECT_THAT(r.out, Not(HasSubstr("std::bad_alloc")));
}
#endif

TEST(Cli, EveryCommandFailsWhenItsOutputCannotBeWritten) {
  for (const char* args : {"redistribute --mesh 3 --shape 7 --from S0 --to R",
                           "redistribute --mesh 3 --shape 7 --from S0 --to R --json",
                           "check --op softmax --json", "--help", "train --help",
                           // 15 plans: 14 KiB, so stdio's buffer empties (and fails) before the
                           // final flush
                           "plan --hardware h100-sxm --gpus 4 --layers 2 --dim 24 --heads 2 "
                           "--seq 6 --vocab 13 --global-batch 4 --json"}) {
    const Result r = tensorpar::cli_testing::run_cli_stdout_to(args, "/dev/full");
    EXPECT_EQ(r.exit_code, 1) << args << "\n" << r.out;
    EXPECT_THAT(r.out, HasSubstr("cannot write to standard output: No space left on device"))
        << args;
  }
  // A usage error keeps its exit code; its message goes to stderr anyway.
  EXPECT_EQ(
      tensorpar::cli_testing::run_cli_stdout_to("redistribute --bogus", "/dev/full").exit_code, 2);
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
