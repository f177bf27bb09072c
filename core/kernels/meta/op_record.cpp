#include "core/kernels/meta/op_record.h"

namespace tensorpar::kernels {

namespace {
thread_local OpRecorder* t_innermost = nullptr;
}  // namespace

OpRecorder::OpRecorder() : previous_(t_innermost) { t_innermost = this; }

OpRecorder::~OpRecorder() { t_innermost = previous_; }

bool OpRecorder::active() { return t_innermost != nullptr; }

void OpRecorder::record(const OpRecord& record) {
  for (OpRecorder* r = t_innermost; r != nullptr; r = r->previous_) {
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
