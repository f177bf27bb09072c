#include "core/checkpoint/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/base/error.h"
#include "core/checkpoint/file_io.h"

namespace tensorpar::checkpoint {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; tensors are written from host memory as is");

namespace {

// The format's own guard against absurd headers (the reference reader refuses over 100 MB).
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;
constexpr const char* kMetadataKey = "__metadata__";

std::uint64_t byte_length(DType dtype, const Shape& shape) {
  return static_cast<std::uint64_t>(numel(shape)) * dtype_size(dtype);
}

}  // namespace

std::string_view safetensors_dtype(DType dtype) {
  switch (dtype) {
    case DType::Float32:
      return "F32";
    case DType::Float64:
      return "F64";
    case DType::Int64:
      return "I64";
    case DType::BFloat16:
      return "BF16";
  }
  throw std::invalid_argument("safetensors_dtype: unknown dtype");
}

DType parse_safetensors_dtype(std::string_view text, const std::string& where) {
  for (DType d : {DType::Float32, DType::Float64, DType::Int64, DType::BFloat16}) {
    if (text == safetensors_dtype(d)) return d;
  }
  throw std::invalid_argument(
      cat(where, ": dtype '", text, "' is not one tensorpar holds (F32, F64, I64, BF16)"));
}

std::string encode_safetensors_header(const std::vector<SafetensorsEntry>& entries,
                                      const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  std::uint64_t next = 0;
  for (const SafetensorsEntry& e : entries) {
    check_arg(e.name != kMetadataKey && !e.name.empty(), "safetensors: invalid tensor name '",
              e.name, "'");
    check_arg(!header.contains(e.name), "safetensors: tensor '", e.name, "' listed twice");
    check_arg(e.begin == next && e.end - e.begin == byte_length(e.dtype, e.shape),
              "safetensors: tensor '", e.name, "' has data_offsets [", e.begin, ", ", e.end,
              "]; expected [", next, ", ", next + byte_length(e.dtype, e.shape), "]");
    header[e.name] = {{"dtype", safetensors_dtype(e.dtype)},
                      {"shape", e.shape},
                      {"data_offsets", {e.begin, e.end}}};
    next = e.end;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  const std::uint64_t n = text.size();
  std::memcpy(out.data(), &n, 8);
  return out + text;
}

const SafetensorsEntry* SafetensorsHeader::find(const std::string& name) const {
  for (const SafetensorsEntry& e : entries) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

SafetensorsHeader parse_safetensors_header(std::string_view text, std::uint64_t file_size,
                                           const std::string& path) {
  const std::string where = cat("safetensors file '", path, "'");
  SafetensorsHeader out;
  out.data_start = 8 + text.size();
  out.file_size = file_size;
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(cat(where, ": corrupted header (not JSON: ", e.what(), ")"));
  }
  check_state(header.is_object(), where, ": corrupted header (not a JSON object)");
  for (const auto& [name, value] : header.items()) {
    if (name == kMetadataKey) {
      check_state(value.is_object(), where, ": __metadata__ is not an object");
      for (const auto& [k, v] : value.items()) {
        check_state(v.is_string(), where, ": __metadata__ value of '", k, "' is not a string");
        out.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string entry_where = cat(where, ": tensor '", name, "'");
    try {
      SafetensorsEntry e;
      e.name = name;
      e.dtype = parse_safetensors_dtype(value.at("dtype").get<std::string>(), entry_where);
      e.shape = value.at("shape").get<Shape>();
      const auto offsets = value.at("data_offsets").get<std::vector<std::uint64_t>>();
      check_state(offsets.size() == 2, entry_where, ": data_offsets must hold 2 numbers");
      e.begin = offsets[0];
      e.end = offsets[1];
      for (std::int64_t extent : e.shape) {
        check_state(extent >= 0, entry_where, ": negative extent in shape ", shape_text(e.shape));
      }
      check_state(e.begin <= e.end && e.end - e.begin == byte_length(e.dtype, e.shape), entry_where,
                  ": data_offsets [", e.begin, ", ", e.end, "] hold ", e.end - e.begin,
                  " bytes; shape ", shape_text(e.shape), " of ", safetensors_dtype(e.dtype),
                  " needs ", byte_length(e.dtype, e.shape));
      out.entries.push_back(std::move(e));
    } catch (const nlohmann::json::exception& e) {
      throw std::runtime_error(cat(entry_where, ": corrupted header entry (", e.what(), ")"));
    }
  }
  std::sort(out.entries.begin(), out.entries.end(), [](const auto& a, const auto& b) {
    return a.begin < b.begin || (a.begin == b.begin && a.end < b.end);
  });
  std::uint64_t next = 0;
  for (const SafetensorsEntry& e : out.entries) {
    check_state(e.begin == next, where, ": corrupted header (tensor '", e.name,
                "' starts at data byte ", e.begin, " but the previous tensor ends at ", next, ")");
    next = e.end;
  }
  check_state(out.data_start + next <= file_size, where, " is truncated: the header describes ",
              next, " bytes of data but the file holds ",
              file_size >= out.data_start ? file_size - out.data_start : 0);
  return out;
}

SafetensorsHeader read_safetensors_header(const std::string& path) {
  InputFile file(path);
  check_state(file.size() >= 8, "safetensors file '", path, "' is truncated: ", file.size(),
              " bytes, fewer than the 8 of the header length");
  std::uint64_t n = 0;
  file.read_at(&n, 0, 8);
  check_state(n <= kMaxHeaderBytes && n <= file.size() - 8, "safetensors file '", path,
              "': corrupted header length ", n, " (the file holds ", file.size(), " bytes)");
  std::string text(n, '\0');
  file.read_at(text.data(), 8, n);
  return parse_safetensors_header(text, file.size(), path);
}

}  // namespace tensorpar::checkpoint
