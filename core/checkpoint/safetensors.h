#pragma once
// The safetensors file format (huggingface/safetensors), written and read here directly:
//
//   bytes 0..7      N, the header's length, an unsigned 64-bit little-endian integer
//   bytes 8..8+N    the header: a JSON object, UTF-8, padded with spaces; one entry per tensor
//                   {"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...} and
//                   optionally "__metadata__": a map of strings to strings
//   bytes 8+N..     the data buffer: every tensor's row-major little-endian bytes; data_offsets
//                   are [begin, end) relative to the buffer's start, and the tensors cover the
//                   buffer without holes or overlaps
//
// Worked example: one F32 tensor "w" of shape [2] holds 8 bytes of data; its header
// {"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} is 54 bytes, padded to 56 so the data
// starts at byte 64, 8-byte aligned; the file is 72 bytes.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor/dtype.h"
#include "core/tensor/shape.h"

namespace tensorpar::checkpoint {

// "F32", "F64", "I64", "BF16".
std::string_view safetensors_dtype(DType dtype);
// The inverse; std::invalid_argument naming `where` and the text for any other dtype.
DType parse_safetensors_dtype(std::string_view text, const std::string& where);

struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::Float32;
  Shape shape;
  std::uint64_t begin = 0;  // [begin, end) in the data buffer
  std::uint64_t end = 0;
};

// The bytes in front of the data buffer: the length and the space-padded header, a multiple of
// 8 bytes. Entries must be laid out back to back from offset 0, each end - begin equal to its
// numel times the dtype's size.
std::string encode_safetensors_header(const std::vector<SafetensorsEntry>& entries,
                                      const std::map<std::string, std::string>& metadata);

// A file's header, checked: JSON well formed, every entry's dtype known, its byte length equal to
// its shape's, the entries covering the data buffer without holes, the buffer inside the file.
struct SafetensorsHeader {
  std::vector<SafetensorsEntry> entries;  // in data order
  std::map<std::string, std::string> metadata;
  std::uint64_t data_start = 0;  // 8 + N: the file offset of the data buffer
  std::uint64_t file_size = 0;
  // The entry named `name`, or null.
  const SafetensorsEntry* find(const std::string& name) const;
};

// Reads and checks `path`'s header, reading only the header's bytes. Errors are
// std::runtime_error naming the file and what is wrong with it ("... is truncated: the header
// describes 4096 bytes of data but the file holds 1000").
SafetensorsHeader read_safetensors_header(const std::string& path);
// The same checks on header bytes in memory: `header` is the N bytes after the length.
SafetensorsHeader parse_safetensors_header(std::string_view header, std::uint64_t file_size,
                                           const std::string& path);

}  // namespace tensorpar::checkpoint
