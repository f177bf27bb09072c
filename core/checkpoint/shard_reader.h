#pragma once
// Reading boxes of checkpointed tensors: for the box a rank needs, each saved shard that overlaps
// it contributes only the overlapping bytes, read with one positioned read per contiguous run.
//
// Example: a [4, 6] tensor saved as [S(1)] on 2 ranks (shards [4, 3] at column 0 and 3), read
// into [S(0)] on 2 ranks: rank 1 needs rows 2..3, which are 2 runs of 3 elements in each file;
// it reads 12 elements, its own box, and nothing else.
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "core/checkpoint/file_io.h"
#include "core/checkpoint/index.h"
#include "core/checkpoint/safetensors.h"

namespace tensorpar::checkpoint {

class ShardReader {
 public:
  explicit ShardReader(const CheckpointIndex& index) : index_(index) {}

  // The box [offsets, offsets + sizes) of `record` into `dst`, host memory of numel(sizes)
  // elements, row-major. Each file is opened once, and its header checked against the index
  // the first time (entry present, dtype, shape and bytes as the index says, inside the file).
  // Errors name the tensor, the file and the mismatch.
  void read_box(const TensorRecord& record, const Shape& offsets, const Shape& sizes, void* dst);

  // Tensor bytes read (headers not counted), read calls, header bytes, files opened.
  std::uint64_t data_bytes_read() const { return data_bytes_; }
  std::uint64_t reads() const { return reads_; }
  std::uint64_t header_bytes_read() const { return header_bytes_; }
  std::uint64_t files_opened() const { return files_.size(); }

 private:
  struct OpenFile {
    std::unique_ptr<InputFile> file;
    SafetensorsHeader header;
  };
  InputFile& open(const TensorRecord& record, const ShardRecord& shard);

  const CheckpointIndex& index_;
  std::map<std::string, OpenFile> files_;
  std::uint64_t data_bytes_ = 0;
  std::uint64_t reads_ = 0;
  std::uint64_t header_bytes_ = 0;
};

}  // namespace tensorpar::checkpoint
