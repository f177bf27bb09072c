// The Transformer's tensor-parallel step run shape-only (tools/shape_only/transformer_step.h):
// the same collectives, rank by rank and in order, as the real sim running the same step; the
// same memory high-water mark as real memory; and real model dimensions at 64 ranks.
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/comm/comm_debug_mode.h"
#include "core/tensor/meta_device.h"
#include "sim/standin_device.h"
#include "sim/world.h"
#include "tools/shape_only/transformer_step.h"
#include "tools/shape_only_testing.h"

namespace tensorpar {
namespace {

using shape_only_testing::small_config;

using shape_only_testing::expect_same_sequence;
using shape_only_testing::real_step_collectives;

struct Case {
  int world;
  bool sp;
  bool loss_parallel;
};

class ShapeOnlyStepSequence : public testing::TestWithParam<Case> {};

TEST_P(ShapeOnlyStepSequence, EqualsTheRealSimRankByRank) {
  const Case k = GetParam();
  ShapeOnlyStepConfig c = small_config(k.world, k.sp, k.loss_parallel);
  c.distinct_ranks = false;
  const auto real = real_step_collectives(c);
  const auto shape_only = shape_only_step(c);
  ASSERT_EQ(shape_only.size(), real.size());
  for (int r = 0; r < c.world; ++r) {
    SCOPED_TRACE(r);
    expect_same_sequence(*shape_only[r].collectives, real[r]);
  }
}

INSTANTIATE_TEST_SUITE_P(Worlds, ShapeOnlyStepSequence,
                         testing::Values(Case{2, false, false}, Case{2, true, false},
                                         Case{3, false, false}, Case{3, true, true},
                                         Case{4, false, true}, Case{4, true, false}),
                         [](const testing::TestParamInfo<Case>& info) {
                           std::string name = "W";
                           name += std::to_string(info.param.world);
                           if (info.param.sp) name += "_sp";
                           if (info.param.loss_parallel) name += "_loss_parallel";
                           return name;
                         });

// Running one rank per class gives what running every rank gives (W = 3: vocab 11 splits 4, 4, 3).
TEST(ShapeOnlyStep, DistinctRanksReportWhatEveryRankReports) {
  for (bool sp : {false, true}) {
    SCOPED_TRACE(sp);
    ShapeOnlyStepConfig c = small_config(3, sp, false);
    const std::vector<int> classes = transformer_rank_classes(c);
    EXPECT_EQ(classes, (std::vector<int>{0, 0, 2}));
    c.distinct_ranks = false;
    const auto every = shape_only_step(c);
    c.distinct_ranks = true;
    const auto distinct = shape_only_step(c);
    EXPECT_EQ(distinct[1].represented_by, 0);
    for (int r = 0; r < 3; ++r) {
      SCOPED_TRACE(r);
      expect_same_sequence(*distinct[r].collectives, *every[r].collectives);
      EXPECT_EQ(distinct[r].peak_bytes, every[r].peak_bytes);
      ASSERT_EQ(distinct[r].ops->size(), every[r].ops->size());
      for (std::size_t i = 0; i < every[r].ops->size(); ++i) {
        EXPECT_EQ((*distinct[r].ops)[i].kernel, (*every[r].ops)[i].kernel);
        EXPECT_EQ((*distinct[r].ops)[i].shape, (*every[r].ops)[i].shape);
        EXPECT_EQ((*distinct[r].ops)[i].flops, (*every[r].ops)[i].flops);
      }
    }
  }
}

// Host memory charged to the calling thread's MetaMemory account, as the meta allocator charges
// its own: the real step's requested-bytes high-water mark per rank.
class AccountedHostAllocator final : public Allocator {
 public:
  void* allocate(std::size_t nbytes) override {
    void* p = host_.allocate(nbytes);
    MetaMemory& account = current_meta_memory();
    account.charge(nbytes);
    const std::lock_guard<std::mutex> lock(mutex_);
    owner_[p] = &account;
    return p;
  }
  void deallocate(void* ptr, std::size_t nbytes) override {
    if (ptr == nullptr) return;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      auto it = owner_.find(ptr);
      it->second->release(nbytes);
      owner_.erase(it);
    }
    host_.deallocate(ptr, nbytes);
  }

 private:
  HostAllocator host_;
  std::mutex mutex_;
  std::unordered_map<void*, MetaMemory*> owner_;
};

TEST(ShapeOnlyStep, HighWaterMarkEqualsTheRealStepsPerRank) {
  sim::register_standin_device();
  static AccountedHostAllocator accounted;  // outlives the tensors it made
  Allocator& saved = allocator_for(DeviceType::StandIn);
  register_allocator(DeviceType::StandIn, &accounted);
  for (bool sp : {false, true}) {
    SCOPED_TRACE(sp);
    ShapeOnlyStepConfig c = small_config(3, sp, false);
    std::vector<std::shared_ptr<MetaMemory>> accounts;
    for (int r = 0; r < c.world; ++r) accounts.push_back(std::make_shared<MetaMemory>());
    sim::run(c.world, [&](int rank) {
      const MetaMemoryScope account(accounts[rank]);
      const DeviceGuard on(sim::standin_device());
      transformer_tp_step(c, [&](std::string_view phase) {
        if (phase == "forward") accounts[rank]->reset_peak();
      });
    });
    const auto shape_only = shape_only_step(c);
    for (int r = 0; r < c.world; ++r) {
      SCOPED_TRACE(r);
      EXPECT_GT(accounts[r]->peak_bytes(), 0u);
      EXPECT_EQ(shape_only[r].peak_bytes, accounts[r]->peak_bytes());
    }
  }
  register_allocator(DeviceType::StandIn, &saved);
}

// Collectives of one rank's step by phase and kind: {forward: {all_reduce: 6}, ...}.
std::map<CommPhase, std::map<std::string, std::int64_t>> counts(const sim::ShapeOnlyRank& rank) {
  std::map<CommPhase, std::map<std::string, std::int64_t>> out;
  for (const CollectiveRecord& rec : *rank.collectives) {
    ++out[rec.phase][std::string(collective_name(rec.kind))];
  }
  return out;
}

using Counts = std::map<std::string, std::int64_t>;

// GPT-3 175B's width at 32 ranks (three of its 96 heads each; two of its 96 layers): per layer
// the forward pass issues two all_reduces of b * s * h elements (cost-model-facts section 3),
// plus one per embedding and the logits' all_gather; the backward pass one all_reduce per
// column-parallel input (wq, wk, wv and w1: the reference model does not fuse QKV as Megatron
// does) plus the output projection's. Each rank computes its three heads' attention.
TEST(ShapeOnlyStep, Gpt3WidthAt32RanksIssuesMegatronsCollectives) {
  const ShapeOnlyStepConfig c = gpt3_175b(32, 2);
  const auto ranks = shape_only_step(c);
  ASSERT_EQ(ranks.size(), 32u);
  const std::int64_t l = c.model.n_layers, h = c.model.dim, s = c.seq;
  for (int r : {0, 31}) {
    SCOPED_TRACE(r);
    auto by_phase = counts(ranks[r]);
    EXPECT_EQ(by_phase[CommPhase::Forward], (Counts{{"all_gather", 1}, {"all_reduce", 2 * l + 2}}));
    EXPECT_EQ(by_phase[CommPhase::Backward], (Counts{{"all_reduce", 4 * l + 1}}));
    for (const CollectiveRecord& rec : *ranks[r].collectives) {
      if (rec.kind == CollectiveKind::AllReduce) {
        EXPECT_EQ(rec.bytes, c.batch * s * h * 4);
      }
      EXPECT_EQ(rec.group.size(), 32u);
    }
  }
  // The attention's two batched GEMMs over this rank's 3 heads: 2 * (2 * s^2 * h / 32) per layer;
  // six linears per layer and the output projection.
  std::int64_t attention_flops = 0, linears = 0;
  for (const kernels::OpRecord& op : *ranks[0].ops) {
    if (op.phase != "forward") continue;
    if (op.kernel == "matmul") attention_flops += op.flops;
    if (op.kernel == "linear") ++linears;
  }
  EXPECT_EQ(attention_flops, l * 2 * (2 * s * s * h / 32));
  EXPECT_EQ(linears, 6 * l + 1);
  // The step's FLOPs per rank against Narayanan et al.'s count (cost-model-facts section 5)
  // without recompute: 72 B s l h^2 (1 + s / 6h) for the layers, plus 6 B s h V for the logits
  // (forward and two backward GEMMs; scaling the recompute formula's V / 16lh term by 72 / 96
  // would count 4.5 B s h V), over t ranks. It leaves out the element-wise work, the norms, the
  // softmaxes and the optimizer: the count is above it by less than 1%.
  const double v = static_cast<double>(c.model.vocab_size), hd = static_cast<double>(h);
  const double sd = static_cast<double>(s), ld = static_cast<double>(l);
  const double narayanan =
      (72.0 * sd * ld * hd * hd * (1 + sd / (6 * hd)) + 6.0 * sd * hd * v) / 32;
  std::int64_t total = 0;
  for (const kernels::OpRecord& op : *ranks[0].ops) total += op.flops;
  EXPECT_GT(static_cast<double>(total), narayanan);
  EXPECT_LT(static_cast<double>(total), 1.01 * narayanan);
}

// At 64 ranks GPT-3's 96 heads do not split evenly (a rank's 192 columns are 1.5 heads): the
// head-splitting reshape of q, k and v gathers them (three all_gathers per layer, as the real
// sim does) and every rank computes all 96 heads; the all_reduces are Megatron's still.
TEST(ShapeOnlyStep, Gpt3WidthAt64RanksGathersTheHeadsItCannotSplit) {
  const ShapeOnlyStepConfig c = gpt3_175b(64, 2);
  const auto ranks = shape_only_step(c);
  const std::int64_t l = c.model.n_layers, h = c.model.dim, s = c.seq;
  auto by_phase = counts(ranks[63]);
  EXPECT_EQ(by_phase[CommPhase::Forward],
            (Counts{{"all_gather", 3 * l + 1}, {"all_reduce", 2 * l + 2}}));
  EXPECT_EQ(by_phase[CommPhase::Backward], (Counts{{"all_gather", l}, {"all_reduce", 4 * l + 1}}));
  std::int64_t attention_flops = 0;
  for (const kernels::OpRecord& op : *ranks[63].ops) {
    if (op.phase == "forward" && op.kernel == "matmul") attention_flops += op.flops;
  }
  EXPECT_EQ(attention_flops, l * 2 * (2 * s * s * h));
  // Ranks 0-62 hold 786 rows of the 50257-row vocabulary, rank 63 the last 739: two classes.
  EXPECT_EQ(ranks[62].represented_by, 0);
  EXPECT_EQ(ranks[63].represented_by, 63);
}

}  // namespace
}  // namespace tensorpar
