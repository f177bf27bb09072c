// `tensorpar train --save/--load` and `tensorpar checkpoint info|consolidate`: a run saved at
// --world 4 and resumed at --world 3 (uneven vocab shards, sequence parallel toggled) or on one
// rank continues an uninterrupted run's losses exactly; info describes what was saved;
// consolidate writes one standard file that Python's safetensors reads and --load starts from.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "support/temp_folder.h"
#include "tools/cli_testing.h"
#include "tools/json_reader.h"

namespace tensorpar {
namespace {

using cli_testing::parse_json;
using cli_testing::run_cli;
using cli_testing::Value;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// heads 12 split over 1, 2, 3 and 4 ranks; the vocab of 10 splits unevenly over 3 and 4.
const std::string kModel =
    "--layers 1 --dim 24 --heads 12 --vocab 10 --seq 12 --batch 4 --dropout 0.1 --dtype f64";

Value train_json(const std::string& args) {
  const auto r = run_cli("train " + kModel + " " + args + " --json", /*stdout_only=*/true);
  EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.out;
  return parse_json(r.exit_code == 0 ? r.out : "null");
}

std::vector<double> losses(const Value& report) {
  std::vector<double> out;
  for (const Value& s : report["steps"].arr()) out.push_back(s["loss"].num());
  return out;
}

TEST(CliCheckpoint, ResumingAtAnotherWorldContinuesTheUninterruptedRun) {
  const testing::TempFolder folder;
  const std::string dir = folder / "ck";
  const std::vector<double> whole = losses(train_json("--world 4 --steps 6 --no-compare"));
  const std::vector<double> first =
      losses(train_json("--world 4 --steps 3 --no-compare --save " + dir));
  ASSERT_EQ(whole.size(), 6u);
  ASSERT_EQ(first.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(first[i], whole[i]);
  for (const std::string layout : {"--world 3 --sequence-parallel", "--world 1"}) {
    const Value resumed = train_json(layout + " --steps 3 --load " + dir);
    const std::vector<double> tail = losses(resumed);
    ASSERT_EQ(tail.size(), 3u) << layout;
    for (std::size_t i = 0; i < 3; ++i) EXPECT_NEAR(tail[i], whole[3 + i], 1e-12) << layout;
    EXPECT_TRUE(resumed["verified"].boolean()) << "the reference resumes from the same checkpoint";
  }
}

// Each step's number and its loss and ref_loss, by number.
struct NumberedStep {
  double loss, ref_loss;
};
std::map<std::int64_t, NumberedStep> by_number(const Value& report) {
  std::map<std::int64_t, NumberedStep> out;
  for (const Value& s : report["steps"].arr()) {
    out[static_cast<std::int64_t>(s["step"].num())] = {s["loss"].num(), s["ref_loss"].num()};
  }
  return out;
}

std::vector<std::int64_t> numbers(const std::map<std::int64_t, NumberedStep>& steps) {
  std::vector<std::int64_t> out;
  for (const auto& [n, s] : steps) out.push_back(n);
  return out;
}

TEST(CliCheckpoint, AResumedRunNumbersItsStepsAsTheUninterruptedRun) {
  const testing::TempFolder folder;
  const std::string dir = folder / "ck", trace_path = folder / "trace.json";
  // Runs without --load start at step 1.
  const auto whole = by_number(train_json("--world 2 --steps 5"));
  EXPECT_THAT(numbers(whole), ElementsAre(1, 2, 3, 4, 5));
  EXPECT_THAT(numbers(by_number(train_json("--world 2 --steps 2 --save " + dir))),
              ElementsAre(1, 2));

  // Saved after step 2, resumed for 3 (--steps counts this run's): steps 3, 4 and 5, with the
  // uninterrupted run's losses under the same numbers, in both the sharded and the reference run.
  const auto tail = by_number(train_json("--world 3 --steps 3 --trace " + trace_path + " --load " + dir));
  ASSERT_THAT(numbers(tail), ElementsAre(3, 4, 5));
  for (const auto& [n, s] : tail) {
    EXPECT_NEAR(s.loss, whole.at(n).loss, 1e-12) << "step " << n;
    EXPECT_NEAR(s.ref_loss, whole.at(n).loss, 1e-12) << "step " << n;
  }

  // The trace's step spans carry the same numbers, on every rank's track.
  std::ifstream file(trace_path);
  ASSERT_TRUE(file) << trace_path;
  std::stringstream text;
  text << file.rdbuf();
  std::map<int, std::vector<std::string>> spans;  // pid -> the step spans' names
  const Value trace = parse_json(text.str());
  for (const Value& e : trace["traceEvents"].arr()) {
    if (e["ph"].str() == "X" && e["cat"].str() == "step") {
      spans[static_cast<int>(e["pid"].num())].push_back(e["name"].str());
    }
  }
  ASSERT_EQ(spans.size(), 3u);
  for (const auto& [rank, names] : spans) {
    EXPECT_THAT(names, ElementsAre("step 3", "step 4", "step 5")) << "rank " << rank;
  }

  // The text report's loss table and the progress lines (stderr) number them so too.
  const auto r = run_cli("train " + kModel + " --world 2 --steps 3 --progress lines --load " + dir);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("\n      3  "));
  EXPECT_THAT(r.out, HasSubstr("\n      5  "));
  EXPECT_THAT(r.out, Not(HasSubstr("\n      1  ")));
  EXPECT_THAT(r.out, HasSubstr("reference  step 3/5  loss "));
  EXPECT_THAT(r.out, HasSubstr("train      step 5/5  loss "));
  EXPECT_THAT(r.out, Not(HasSubstr("step 1/3")));
}

TEST(CliCheckpoint, InfoDescribesTheLastSave) {
  const testing::TempFolder folder;
  const std::string dir = folder / "ck";
  train_json("--world 4 --steps 4 --save-every 3 --no-compare --save " + dir);
  const auto r = run_cli("checkpoint info " + dir + " --json", true);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const Value info = parse_json(r.out);
  EXPECT_EQ(info["step"].num(), 4);  // the save after the last step replaced the one after step 3
  EXPECT_EQ(info["generation"].num(), 2);
  EXPECT_EQ(info["world"].num(), 4);
  EXPECT_EQ(info["optimizer"].str(), "Adam");
  EXPECT_EQ(info["files"].num(), 4);
  bool found = false;
  for (const Value& t : info["tensors"].arr()) {
    if (t["name"].str() != "model.tok_embeddings.weight") continue;
    found = true;
    EXPECT_EQ(t["placements"].arr().at(0).str(), "S(0)");
    EXPECT_EQ(t["shards"].num(), 4);  // rows 3, 3, 3, 1
    EXPECT_EQ(t["bytes"].num(), 10 * 24 * 8);
  }
  EXPECT_TRUE(found);
  const auto text = run_cli("checkpoint info " + dir);
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_THAT(text.out, HasSubstr("saved by 4 ranks at step 4, optimizer Adam"));
}

TEST(CliCheckpoint, ConsolidatedFileIsOneStandardSafetensorsFileOfTheWeights) {
  const testing::TempFolder folder;
  const std::string dir = folder / "ck", file = folder / "model.safetensors";
  train_json("--world 4 --steps 2 --no-compare --save " + dir);
  const auto r = run_cli("checkpoint consolidate " + dir + " " + file);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto info = run_cli("checkpoint info " + file + " --json", true);
  ASSERT_EQ(info.exit_code, 0) << info.out;
  const Value v = parse_json(info.out);
  EXPECT_TRUE(v["weights_only"].boolean());
  for (const Value& t : v["tensors"].arr()) EXPECT_EQ(t["shards"].num(), 1) << t["name"].str();
  // --load starts from the weights (step 0, a fresh optimizer), on any world.
  const Value started = train_json("--world 2 --steps 2 --load " + file);
  EXPECT_TRUE(started["verified"].boolean());
}

TEST(CliCheckpoint, PythonSafetensorsReadsEveryFile) {
  if (std::system("python3 -c 'import safetensors.numpy' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "Python's safetensors package is not installed (pip install safetensors "
                    "numpy); the interoperability check needs it";
  }
  const testing::TempFolder folder;
  const std::string dir = folder / "ck", file = folder / "model.safetensors";
  train_json("--world 3 --steps 2 --no-compare --save " + dir);
  ASSERT_EQ(run_cli("checkpoint consolidate " + dir + " " + file).exit_code, 0);
  // Every tensor of the consolidated file equals the shards of the checkpoint put together, and
  // every shard file reads too.
  const std::string script = R"(
import glob, json, sys
import numpy as np
from safetensors.numpy import load_file
ck, one = sys.argv[1], sys.argv[2]
whole = load_file(one)
index = json.load(open(ck + '/index.json'))
names = [n[len('model.'):] for n in index['tensors'] if n.startswith('model.')]
assert sorted(names) == sorted(whole), (sorted(names), sorted(whole))
files = {f.split('/')[-1]: load_file(f) for f in glob.glob(ck + '/*.safetensors')}
for name, t in index['tensors'].items():
    if not name.startswith('model.'):
        continue
    got = whole[name[len('model.'):]]
    assert list(got.shape) == t['shape'] and got.dtype == np.float64, name
    for s in t['shards']:
        box = tuple(slice(o, o + n) for o, n in zip(s['offsets'], s['sizes']))
        assert np.array_equal(got[box], files[s['file']][name]), name
print('ok', len(whole), len(files))
)";
  const std::string command = "python3 -c \"" + script + "\" " + dir + " " + file + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buf[4096];
  while (std::size_t n = fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  EXPECT_EQ(pclose(pipe), 0) << out;
  EXPECT_THAT(out, HasSubstr("ok 16 3"));  // the 1-layer model's 16 weights, 3 rank files
}

TEST(CliCheckpoint, BadFlagsAndPathsAreNamed) {
  auto r = run_cli("train --save-every 2");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.out, HasSubstr("--save-every 2 needs --save DIR"));
  r = run_cli("train --steps 1 --load /nonexistent/ck");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("checkpoint '/nonexistent/ck' is neither a folder nor a "
                               ".safetensors file"));
  r = run_cli("checkpoint merge a b");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.out, HasSubstr("unknown subcommand 'merge' (info or consolidate)"));
}

}  // namespace
}  // namespace tensorpar
