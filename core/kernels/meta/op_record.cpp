#include "core/kernels/meta/op_record.h"

#include "core/base/rank_context.h"

namespace tensorpar::kernels {

namespace {
// The innermost OpRecorder, a per-rank slot (core/base/rank_context.h).
struct InnermostRecorder {
  OpRecorder* recorder = nullptr;
};
constexpr RankContext::Slot<InnermostRecorder> kOpRecorderSlot{RankSlot::OpRecorder};
OpRecorder*& innermost() { return RankContext::current().get(kOpRecorderSlot).recorder; }
}  // namespace

OpRecorder::OpRecorder() : previous_(innermost()) { innermost() = this; }

OpRecorder::~OpRecorder() { innermost() = previous_; }

bool OpRecorder::active() { return innermost() != nullptr; }

void OpRecorder::record(const OpRecord& record) {
  for (OpRecorder* r = innermost(); r != nullptr; r = r->previous_) {
    r->records_.push_back(record);
    r->records_.back().phase = r->phase_;
  }
}

std::int64_t OpRecorder::total_flops() const {
  std::int64_t total = 0;
  for (const OpRecord& r : records_) total += r.flops;
  return total;
}

std::int64_t OpRecorder::total_bytes() const {
  std::int64_t total = 0;
  for (const OpRecord& r : records_) total += r.bytes_read + r.bytes_written;
  return total;
}

}  // namespace tensorpar::kernels
