// save_checkpoint and load_checkpoint on modules whose parameters are distributed by hand over
// 1-D and 2-D meshes: which rank writes which shard, what each rank reads, the collectives of a
// save, optimizer state across layouts, and every kind of bad input (each a clear error naming the
// tensor and the mismatch). Values are integers so every comparison is exact.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "core/autograd/autograd.h"
#include "core/checkpoint/checkpoint.h"
#include "core/checkpoint/index.h"
#include "core/comm/comm_debug_mode.h"
#include "core/dtensor/dtensor.h"
#include "core/ops/ops.h"
#include "core/optim/adam.h"
#include "core/optim/sgd.h"
#include "core/tensor/philox.h"
#include "sim/world.h"
#include "support/expect_error.h"
#include "support/temp_folder.h"

namespace tensorpar::checkpoint {
namespace {

using testing::expect_error;
namespace fs = std::filesystem;

// Integer values start, start + 1, ... in the given shape.
Tensor counting(const Shape& shape, double start, DType dtype = DType::Float64) {
  return arange(start, start + double(numel(shape)), 1, dtype).reshape(shape);
}

// Parameters "a" [10, 6], "b" [7], "c" [5, 3] (numbered from `start`), plus `more`.
class Params : public nn::Module {
 public:
  explicit Params(double start, const std::map<std::string, Shape>& shapes = default_shapes(),
                  DType dtype = DType::Float64) {
    double next = start;
    for (const auto& [name, shape] : shapes) {
      register_parameter(name, counting(shape, next, dtype).requires_grad_(is_floating(dtype)));
      next += 1000;
    }
  }
  static std::map<std::string, Shape> default_shapes() {
    return {{"a", {10, 6}}, {"b", {7}}, {"c", {5, 3}}};
  }
};

// Distributes every named parameter over the mesh (the value is the same on every rank).
void distribute(nn::Module& m, const DeviceMesh& mesh,
                const std::map<std::string, Placements>& placements) {
  for (const auto& [name, pl] : placements) {
    NoGradGuard no_grad;
    DTensor d = distribute_tensor(m.parameter(name).detach(), mesh, pl, std::nullopt);
    d.requires_grad_(is_floating(d.dtype()));
    m.set_parameter(name, d);
  }
}

Tensor whole(const Tensor& t) {
  NoGradGuard no_grad;
  return t.is_distributed() ? DTensor(t).full_tensor() : t;
}

void expect_params_equal(const nn::Module& got, const nn::Module& want) {
  const auto w = want.named_parameters();
  const auto g = got.named_parameters();
  ASSERT_EQ(g.size(), w.size());
  for (std::size_t i = 0; i < g.size(); ++i) {
    EXPECT_EQ(g[i].first, w[i].first);
    EXPECT_TRUE(equal(whole(g[i].second), whole(w[i].second))) << g[i].first;
  }
}

TEST(Checkpoint, EachShardIsWrittenOnceByTheLowestRankHoldingIt) {
  const testing::TempFolder folder;
  sim::run(4, [&](int) {
    Params m(0);
    distribute(m, DeviceMesh({2, 2}, {"dp", "tp"}),
               {{"a", {Replicate(), Shard(0)}},
                {"b", {Replicate(), Replicate()}},
                {"c", {Shard(1), Shard(0)}}});
    save_checkpoint(folder / "ck", m, nullptr);
  });
  const CheckpointIndex index = read_checkpoint_index(folder / "ck");
  EXPECT_EQ(index.world, 4);
  EXPECT_EQ(index.generation, 1);
  auto writers = [&](const std::string& name) {
    std::vector<int> ranks;
    for (const ShardRecord& s : index.find(name)->shards) ranks.push_back(s.rank);
    return ranks;
  };
  EXPECT_EQ(writers("model.a"), (std::vector<int>{0, 1}));  // dp replicas: ranks 0 and 1 write
  EXPECT_EQ(writers("model.b"), (std::vector<int>{0}));
  EXPECT_EQ(writers("model.c"), (std::vector<int>{0, 1, 2, 3}));
  const TensorRecord& c = *index.find("model.c");
  EXPECT_EQ(c.placements, (std::vector<std::string>{"S(1)", "S(0)"}));
  EXPECT_EQ(c.mesh_shape, (Shape{2, 2}));
  EXPECT_EQ(c.mesh_dim_names, (std::vector<std::string>{"dp", "tp"}));
  // c [5, 3]: mesh dim 0 splits the columns 2 | 1, mesh dim 1 the rows 3 | 2.
  EXPECT_EQ(c.shards[3].offsets, (Shape{3, 2}));
  EXPECT_EQ(c.shards[3].sizes, (Shape{2, 1}));
  EXPECT_EQ(index.data_bytes(), (60u + 7u + 15u) * 8u);
  for (int r = 0; r < 4; ++r) {
    EXPECT_TRUE(fs::exists(folder / ("ck/g1-rank" + std::to_string(r) + ".safetensors")));
  }
}

TEST(Checkpoint, EachRankReadsOnlyItsOwnShardsBytes) {
  const testing::TempFolder folder;
  sim::run(4, [&](int) {
    Params m(0);
    distribute(m, DeviceMesh({4}), {{"a", {Shard(0)}}, {"b", {Shard(0)}}, {"c", {Replicate()}}});
    save_checkpoint(folder / "ck", m, nullptr);
  });
  const std::uint64_t total = read_checkpoint_index(folder / "ck").data_bytes();
  const auto read = sim::run(3, [&](int) {
    Params m(500);
    distribute(m, DeviceMesh({3}), {{"a", {Shard(1)}}, {"b", {Shard(0)}}, {"c", {Shard(1)}}});
    LoadStats stats;
    load_checkpoint(folder / "ck", m, nullptr, &stats);
    std::uint64_t own = 0;
    for (const auto& [name, p] : m.named_parameters()) own += DTensor(p).to_local().nbytes();
    EXPECT_EQ(stats.data_bytes_read, own);
    expect_params_equal(m, Params(0));
    return stats.data_bytes_read;
  });
  // Together the ranks read the checkpoint once; each a third of it.
  EXPECT_EQ(read[0] + read[1] + read[2], total);
  for (std::uint64_t bytes : read) EXPECT_LT(bytes, total / 2);
}

TEST(Checkpoint, ASaveIssuesTwoMetadataAllGathersABroadcastAndTwoFlagReductionsAndALoadNone) {
  const testing::TempFolder folder;
  sim::run(3, [&](int) {
    Params m(0);
    distribute(m, DeviceMesh({3}), {{"a", {Shard(0)}}, {"b", {Shard(0)}}});
    {
      CommDebugMode comm;
      save_checkpoint(folder / "ck", m, nullptr);
      EXPECT_EQ(comm.counts_by_name(),
                (std::map<std::string, std::int64_t>{
                    {"all_gather", 2}, {"broadcast", 1}, {"all_reduce", 2}}));
    }
    CommDebugMode comm;
    load_checkpoint(folder / "ck", m, nullptr);
    EXPECT_EQ(comm.counts_by_name().size(), 0u);
  });
}

TEST(Checkpoint, TwoDimensionalSaveLoadsOnOneDeviceAndBack) {
  const testing::TempFolder folder;
  sim::run(6, [&](int) {
    Params m(0);
    distribute(
        m, DeviceMesh({2, 3}, {"dp", "tp"}),
        {{"a", {Shard(1), Shard(0)}}, {"b", {Replicate(), Shard(0)}}, {"c", {Shard(0), Shard(0)}}});
    save_checkpoint(folder / "ck", m, nullptr);
  });
  Params single(7);
  load_checkpoint(folder / "ck", single, nullptr);
  expect_params_equal(single, Params(0));
  save_checkpoint(folder / "one", single, nullptr);  // no world: this thread alone saves
  sim::run(5, [&](int) {
    Params m(9);
    distribute(m, DeviceMesh({5}), {{"a", {Shard(0)}}, {"c", {Shard(1)}}});
    load_checkpoint(folder / "one", m, nullptr);
    expect_params_equal(m, Params(0));
  });
}

TEST(Checkpoint, EveryDtypeRoundTripsBitForBit) {
  for (DType dtype : {DType::BFloat16, DType::Float32, DType::Int64}) {
    const testing::TempFolder folder;
    sim::run(3, [&](int) {
      Params m(0.5, Params::default_shapes(), dtype);
      distribute(m, DeviceMesh({3}), {{"a", {Shard(1)}}, {"b", {Shard(0)}}});
      save_checkpoint(folder / "ck", m, nullptr);
    });
    EXPECT_EQ(read_checkpoint_index(folder / "ck").find("model.a")->dtype, dtype);
    Params single(9, Params::default_shapes(), dtype);
    load_checkpoint(folder / "ck", single, nullptr);
    expect_params_equal(single, Params(0.5, Params::default_shapes(), dtype));
  }
}

// One Adam step with gradient 1 everywhere on every parameter.
void adam_step(nn::Module& m, optim::Optimizer& opt) {
  Tensor loss;
  for (const auto& [name, p] : m.named_parameters()) {
    Tensor s = sum(p);
    if (s.is_distributed()) s = DTensor(s).full_tensor();
    loss = loss.defined() ? add(loss, s) : s;
  }
  loss.backward();
  opt.step();
  opt.zero_grad();
}

TEST(Checkpoint, OptimizerStateFollowsItsParametersPlacements) {
  const testing::TempFolder folder;
  const auto saved = sim::run(4, [&](int) {
    Params m(0);
    distribute(m, DeviceMesh({4}), {{"a", {Shard(0)}}, {"c", {Shard(1)}}});
    optim::Adam opt(m.parameters(), {.lr = 0.5});
    for (int i = 0; i < 3; ++i) adam_step(m, opt);
    save_checkpoint(folder / "ck", m, &opt);
    std::map<std::string, Tensor> moments;
    const auto params = m.named_parameters();
    for (std::size_t i = 0; i < params.size(); ++i) {
      const Tensor& p = params[i].second;
      const Tensor local = opt.state(i).exp_avg_sq;
      moments[params[i].first] =
          p.is_distributed() ? DTensor(local, DTensor(p).spec_ptr()).full_tensor() : local;
    }
    return moments;
  })[0];
  sim::run(2, [&](int) {
    Params m(100);
    distribute(m, DeviceMesh({2}), {{"a", {Shard(1)}}, {"b", {Shard(0)}}});
    optim::Adam opt(m.parameters(), {.lr = 0.5});
    load_checkpoint(folder / "ck", m, &opt);
    const auto params = m.named_parameters();
    for (std::size_t i = 0; i < params.size(); ++i) {
      const Tensor& p = params[i].second;
      EXPECT_EQ(opt.state(i).step, 3);
      const Tensor local = opt.state(i).exp_avg_sq;
      ASSERT_TRUE(local.defined());
      const Tensor full =
          p.is_distributed() ? DTensor(local, DTensor(p).spec_ptr()).full_tensor() : local;
      EXPECT_TRUE(equal(full, saved.at(params[i].first))) << params[i].first;
    }
  });
}

TEST(Checkpoint, SgdMomentumBuffersRoundTrip) {
  const testing::TempFolder folder;
  Params m(0);
  optim::SGD opt(m.parameters(), {.lr = 0.5, .momentum = 0.9});
  adam_step(m, opt);
  save_checkpoint(folder / "ck", m, &opt);
  Params fresh(3);
  optim::SGD loaded(fresh.parameters(), {.lr = 0.5, .momentum = 0.9});
  load_checkpoint(folder / "ck", fresh, &loaded);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(equal(loaded.momentum_buffer(i), opt.momentum_buffer(i)));
  }
}

TEST(Checkpoint, TrainingStateAndExtraEntriesComeBack) {
  const testing::TempFolder folder;
  manual_seed(42);
  rand({10}, default_generator());
  TrainingState state = TrainingState::capture(17);
  state.extra["data_epoch"] = "3";
  Params m(0);
  save_checkpoint(folder / "ck", m, nullptr, state);
  manual_seed(0);
  const TrainingState back = load_checkpoint(folder / "ck", m, nullptr);
  EXPECT_EQ(back.step, 17);
  EXPECT_EQ(back.extra.at("data_epoch"), "3");
  back.restore_rng();
  EXPECT_EQ(default_generator().seed(), 42u);
  EXPECT_EQ(default_generator().offset(), state.rng_offset);
  EXPECT_GT(state.rng_offset, 0u);
}

// ---- bad input ----

class CheckpointErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    sim::run(2, [&](int) {
      Params m(0);
      distribute(m, DeviceMesh({2}), {{"a", {Shard(0)}}, {"c", {Shard(1)}}});
      optim::Adam opt(m.parameters(), {});
      adam_step(m, opt);
      save_checkpoint(dir(), m, &opt);
    });
  }
  std::string dir() const { return folder_ / "ck"; }
  std::string file(int rank) const {
    return dir() + "/g1-rank" + std::to_string(rank) + ".safetensors";
  }
  // Loads into Params(shapes, dtype) on one device and returns the error.
  template <class E>
  void expect_load_error(const std::string& needle,
                         const std::map<std::string, Shape>& shapes = Params::default_shapes(),
                         DType dtype = DType::Float64) {
    Params m(0, shapes, dtype);
    optim::Adam opt(m.parameters(), {});
    expect_error<E>([&] { load_checkpoint(dir(), m, &opt); }, needle);
  }
  testing::TempFolder folder_;
};

TEST_F(CheckpointErrors, AParameterMissingFromTheCheckpoint) {
  auto shapes = Params::default_shapes();
  shapes["d"] = {2};
  expect_load_error<std::invalid_argument>("parameter 'd' [2] is missing from checkpoint", shapes);
}

TEST_F(CheckpointErrors, ACheckpointTensorTheModelLacks) {
  auto shapes = Params::default_shapes();
  shapes.erase("c");
  expect_load_error<std::invalid_argument>(
      "checkpoint tensor 'model.c' [5, 3] is not a parameter of the model (a checkpoint of "
      "another architecture?)",
      shapes);
}

TEST_F(CheckpointErrors, AnotherShape) {
  auto shapes = Params::default_shapes();
  shapes["a"] = {6, 10};
  expect_load_error<std::invalid_argument>(
      "tensor 'model.a' has shape [10, 6] in the checkpoint but [6, 10] in the model", shapes);
}

TEST_F(CheckpointErrors, AnotherDtype) {
  expect_load_error<std::invalid_argument>(
      "tensor 'model.a' is float64 in the checkpoint but float32 in the model",
      Params::default_shapes(), DType::Float32);
}

TEST_F(CheckpointErrors, AnotherOptimizer) {
  Params m(0);
  optim::SGD opt(m.parameters(), {});
  expect_error<std::invalid_argument>([&] { load_checkpoint(dir(), m, &opt); },
                                      "the checkpoint holds Adam state, the optimizer is SGD");
}

TEST_F(CheckpointErrors, ATruncatedFile) {
  fs::resize_file(file(1), fs::file_size(file(1)) - 9);
  expect_load_error<std::runtime_error>("g1-rank1.safetensors' is truncated");
}

TEST_F(CheckpointErrors, ACorruptedHeader) {
  {
    std::fstream f(file(0), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(8);
    f.write("\"oops", 5);
  }
  expect_load_error<std::runtime_error>("g1-rank0.safetensors': corrupted header (not JSON");
}

TEST_F(CheckpointErrors, AnIndexPointingOutsideAFile) {
  const std::string path = dir() + "/index.json";
  std::string text;
  {
    std::ifstream in(path);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  // Shift the first shard of model.b (saved whole by rank 0) a megabyte further into its file.
  const std::size_t b = text.find("\"model.b\"");
  const std::size_t range = text.find("\"byte_range\"", b);
  const std::size_t open = text.find('[', range), close = text.find(']', range);
  std::string numbers = text.substr(open + 1, close - open - 1);
  const std::size_t comma = numbers.find(',');
  const long long begin = std::stoll(numbers.substr(0, comma));
  const long long end = std::stoll(numbers.substr(comma + 1));
  text.replace(open + 1, close - open - 1,
               std::to_string(begin + 1000000) + ", " + std::to_string(end + 1000000));
  std::ofstream(path) << text;
  expect_load_error<std::runtime_error>("checkpoint tensor 'model.b' in '" + file(0) +
                                        "': the index points outside the file");
}

TEST_F(CheckpointErrors, APartialValueIsRefusedAtSave) {
  expect_error<std::runtime_error>(
      [&] {
        sim::run(2, [&](int) {
          Params m(0);
          m.set_parameter("b", DTensor::from_local(counting({7}, 0), DeviceMesh({2}), {Partial()}));
          save_checkpoint(folder_ / "partial", m, nullptr);
        });
      },
      "save_checkpoint: 'model.b' has placements [P(sum)]; a Partial value must be reduced");
}

TEST_F(CheckpointErrors, ASaveInterruptedBetweenFilesLeavesThePreviousCheckpointLoadable) {
  // Rank 1 cannot create its file (its temporary name is taken by a folder); rank 0 writes its.
  fs::create_directories(dir() + "/g2-rank1.safetensors.tmp");
  std::vector<std::string> errors(2);
  EXPECT_THROW(sim::run(2,
                        [&](int rank) {
                          Params m(50);
                          distribute(m, DeviceMesh({2}), {{"a", {Shard(0)}}});
                          try {
                            save_checkpoint(dir(), m, nullptr);
                          } catch (const std::runtime_error& e) {
                            errors[std::size_t(rank)] = e.what();
                            throw;
                          }
                        }),
               sim::RankFailure);
  EXPECT_EQ(errors[1], "save_checkpoint: rank 1 failed to write its shards (cannot create '" +
                           dir() +
                           "/g2-rank1.safetensors.tmp': Is a directory); the folder's "
                           "previous checkpoint is unchanged");
  EXPECT_EQ(errors[0], "save_checkpoint: another rank failed to write its shards into '" + dir() +
                           "'; the folder's previous checkpoint is unchanged");
  EXPECT_TRUE(fs::exists(dir() + "/g2-rank0.safetensors"));
  EXPECT_EQ(read_checkpoint_index(dir()).generation, 1);
  Params m(7);
  optim::Adam opt(m.parameters(), {});
  load_checkpoint(dir(), m, &opt);
  Params expected(0);
  optim::Adam expected_opt(expected.parameters(), {});
  adam_step(expected, expected_opt);
  expect_params_equal(m, expected);

  // The next save that succeeds replaces the checkpoint and removes the other generations.
  fs::remove(dir() + "/g2-rank1.safetensors.tmp");
  sim::run(2, [&](int) {
    Params m2(50);
    distribute(m2, DeviceMesh({2}), {{"a", {Shard(0)}}});
    save_checkpoint(dir(), m2, nullptr);
  });
  EXPECT_EQ(read_checkpoint_index(dir()).generation, 2);
  EXPECT_FALSE(fs::exists(file(0)));
  Params reloaded(7);
  load_checkpoint(dir(), reloaded, nullptr);
  expect_params_equal(reloaded, Params(50));
}

}  // namespace
}  // namespace tensorpar::checkpoint
