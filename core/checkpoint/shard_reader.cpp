#include "core/checkpoint/shard_reader.h"

#include <algorithm>

#include "core/base/error.h"

namespace tensorpar::checkpoint {

namespace {

// The overlap of two boxes along every dim; false when it is empty.
bool intersect(const Shape& a_off, const Shape& a_size, const Shape& b_off, const Shape& b_size,
               Shape& off, Shape& size) {
  const std::size_t nd = a_off.size();
  off.assign(nd, 0);
  size.assign(nd, 0);
  for (std::size_t d = 0; d < nd; ++d) {
    const std::int64_t lo = std::max(a_off[d], b_off[d]);
    const std::int64_t hi = std::min(a_off[d] + a_size[d], b_off[d] + b_size[d]);
    if (hi <= lo) return false;
    off[d] = lo;
    size[d] = hi - lo;
  }
  return true;
}

}  // namespace

InputFile& ShardReader::open(const TensorRecord& record, const ShardRecord& shard) {
  const std::string path = shard_path(index_, shard);
  auto it = files_.find(path);
  if (it == files_.end()) {
    OpenFile f;
    f.file = std::make_unique<InputFile>(path);
    f.header = read_safetensors_header(path);
    header_bytes_ += f.header.data_start;
    it = files_.emplace(path, std::move(f)).first;
  }
  const OpenFile& f = it->second;
  const std::string where = cat("checkpoint tensor '", record.name, "' in '", path, "'");
  check_state(shard.end <= f.file->size(), where, ": the index points outside the file (bytes [",
              shard.begin, ", ", shard.end, ") of a ", f.file->size(), "-byte file)");
  if (!index_.weights_only) {
    const SafetensorsEntry* e = f.header.find(record.name);
    check_state(e != nullptr, where, ": the file's header has no such tensor");
    check_state(e->dtype == record.dtype, where, ": the file holds ", safetensors_dtype(e->dtype),
                ", the index says ", safetensors_dtype(record.dtype));
    check_state(e->shape == shard.sizes, where, ": the file holds shape ", shape_text(e->shape),
                ", the index says ", shape_text(shard.sizes));
    check_state(
        f.header.data_start + e->begin == shard.begin && f.header.data_start + e->end == shard.end,
        where, ": the file holds bytes [", f.header.data_start + e->begin, ", ",
        f.header.data_start + e->end, "), the index says [", shard.begin, ", ", shard.end, ")");
  }
  return *f.file;
}

void ShardReader::read_box(const TensorRecord& record, const Shape& offsets, const Shape& sizes,
                           void* dst) {
  const std::size_t nd = record.shape.size();
  check_arg(offsets.size() == nd && sizes.size() == nd, "checkpoint tensor '", record.name,
            "': box of rank ", offsets.size(), " for a tensor of rank ", nd);
  const std::size_t elem = dtype_size(record.dtype);
  const std::vector<std::int64_t> dst_strides = contiguous_strides(sizes);
  std::int64_t covered = 0;
  Shape io, is;
  for (const ShardRecord& shard : record.shards) {
    if (!intersect(offsets, sizes, shard.offsets, shard.sizes, io, is)) continue;
    InputFile& file = open(record, shard);
    const std::vector<std::int64_t> src_strides = contiguous_strides(shard.sizes);
    // One run spans dims d0.. : every dim inside it is whole in the overlap, the shard and the box.
    std::size_t d0 = nd == 0 ? 0 : nd - 1;
    while (d0 > 0 && is[d0] == shard.sizes[d0] && is[d0] == sizes[d0]) --d0;
    std::int64_t run = 1;
    for (std::size_t d = d0; d < nd; ++d) run *= is[d];
    std::int64_t runs = 1;
    for (std::size_t d = 0; d < d0; ++d) runs *= is[d];
    Shape index(d0, 0);  // position among the outer dims of the overlap
    for (std::int64_t r = 0; r < runs; ++r) {
      std::int64_t src = 0, dst_at = 0;
      for (std::size_t d = 0; d < nd; ++d) {
        const std::int64_t at = io[d] + (d < d0 ? index[d] : 0);
        src += (at - shard.offsets[d]) * src_strides[d];
        dst_at += (at - offsets[d]) * dst_strides[d];
      }
      file.read_at(static_cast<char*>(dst) + dst_at * elem,
                   shard.begin + static_cast<std::uint64_t>(src) * elem,
                   static_cast<std::size_t>(run) * elem);
      data_bytes_ += static_cast<std::uint64_t>(run) * elem;
      ++reads_;
      for (std::size_t d = d0; d-- > 0;) {
        if (++index[d] < is[d]) break;
        index[d] = 0;
      }
    }
    covered += run * runs;
  }
  check_state(covered == numel(sizes), "checkpoint tensor '", record.name, "': its shards cover ",
              covered, " of the ", numel(sizes), " elements at offsets ", shape_text(offsets),
              " with sizes ", shape_text(sizes));
}

}  // namespace tensorpar::checkpoint
