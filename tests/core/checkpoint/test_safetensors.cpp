// The safetensors format as its specification states it: an 8-byte little-endian header length,
// a JSON header padded with spaces so the data starts 8-byte aligned, data offsets relative to
// the data buffer, tensors covering it without holes; and the reader's errors on damaged files.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <string>

#include "core/checkpoint/file_io.h"
#include "core/checkpoint/safetensors.h"
#include "support/expect_error.h"
#include "support/temp_folder.h"

namespace tensorpar::checkpoint {
namespace {

using testing::expect_error;

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

std::string with_length(const std::string& header) {
  std::string out(8, '\0');
  const std::uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  return out + header;
}

TEST(Safetensors, DtypeNamesAreTheFormats) {
  EXPECT_EQ(safetensors_dtype(DType::Float32), "F32");
  EXPECT_EQ(safetensors_dtype(DType::Float64), "F64");
  EXPECT_EQ(safetensors_dtype(DType::Int64), "I64");
  EXPECT_EQ(safetensors_dtype(DType::BFloat16), "BF16");
  EXPECT_EQ(parse_safetensors_dtype("BF16", "x"), DType::BFloat16);
  expect_error<std::invalid_argument>([] { parse_safetensors_dtype("F16", "tensor 'w'"); },
                                      "tensor 'w': dtype 'F16' is not one tensorpar holds");
}

// The header's worked example: one F32 tensor of shape [2].
TEST(Safetensors, HeaderIsLengthThenSpacePaddedJsonEndingOnAnEightByteBoundary) {
  const std::string bytes = encode_safetensors_header({{"w", DType::Float32, {2}, 0, 8}}, {});
  ASSERT_EQ(bytes.size(), 64u);
  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n, 56u);
  EXPECT_EQ(bytes.substr(8),
            std::string(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})") +
                std::string(2, ' '));
}

TEST(Safetensors, MetadataIsAStringMapUnderItsOwnKey) {
  const std::string bytes =
      encode_safetensors_header({{"a", DType::Int64, {}, 0, 8}}, {{"format", "pt"}});
  EXPECT_NE(bytes.find(R"("__metadata__":{"format":"pt"})"), std::string::npos);
  const SafetensorsHeader h = parse_safetensors_header(bytes.substr(8), bytes.size() + 8, "f");
  EXPECT_EQ(h.metadata.at("format"), "pt");
  ASSERT_EQ(h.entries.size(), 1u);
  EXPECT_EQ(h.entries[0].shape, Shape{});
  EXPECT_EQ(h.data_start, bytes.size());
}

TEST(Safetensors, WrittenHeaderReadsBackWithEveryEntry) {
  const testing::TempFolder folder;
  const std::vector<SafetensorsEntry> entries{{"b", DType::BFloat16, {3}, 0, 6},
                                              {"e", DType::Float64, {0, 4}, 6, 6},
                                              {"a", DType::Float32, {2, 1}, 6, 14}};
  write_bytes(folder / "f.safetensors",
              encode_safetensors_header(entries, {}) + std::string(14, 'x'));
  const SafetensorsHeader h = read_safetensors_header(folder / "f.safetensors");
  ASSERT_EQ(h.entries.size(), 3u);
  EXPECT_EQ(h.find("b")->dtype, DType::BFloat16);
  EXPECT_EQ(h.find("e")->shape, (Shape{0, 4}));
  EXPECT_EQ(h.find("a")->begin, 6u);
  EXPECT_EQ(h.find("a")->end, 14u);
  EXPECT_EQ(h.find("zz"), nullptr);
}

TEST(Safetensors, EncodingRefusesHolesAndWrongLengths) {
  expect_error<std::invalid_argument>(
      [] {
        encode_safetensors_header({{"w", DType::Float32, {2}, 0, 12}}, {});
      },
      "tensor 'w' has data_offsets [0, 12]; expected [0, 8]");
  expect_error<std::invalid_argument>(
      [] {
        encode_safetensors_header({{"w", DType::Float32, {2}, 4, 12}}, {});
      },
      "expected [0, 8]");
}

TEST(Safetensors, TruncatedFileNamesTheMissingBytes) {
  const testing::TempFolder folder;
  const std::string header = encode_safetensors_header({{"w", DType::Float64, {4}, 0, 32}}, {});
  write_bytes(folder / "t.safetensors", header + std::string(20, 'x'));
  expect_error<std::runtime_error>([&] { read_safetensors_header(folder / "t.safetensors"); },
                                   "is truncated: the header describes 32 bytes of data but the "
                                   "file holds 20");
  write_bytes(folder / "short.safetensors", "abc");
  expect_error<std::runtime_error>([&] { read_safetensors_header(folder / "short.safetensors"); },
                                   "is truncated: 3 bytes");
}

TEST(Safetensors, CorruptedHeaderIsNamed) {
  const testing::TempFolder folder;
  write_bytes(folder / "json.safetensors", with_length("{\"w\": {\"dtype\": ") + "xxxxxxxx");
  expect_error<std::runtime_error>([&] { read_safetensors_header(folder / "json.safetensors"); },
                                   "corrupted header (not JSON");
  write_bytes(folder / "len.safetensors", std::string(8, '\xff') + "{}");
  expect_error<std::runtime_error>([&] { read_safetensors_header(folder / "len.safetensors"); },
                                   "corrupted header length");
  write_bytes(folder / "bytes.safetensors",
              with_length(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})") +
                  std::string(8, 'x'));
  expect_error<std::runtime_error>([&] { read_safetensors_header(folder / "bytes.safetensors"); },
                                   "tensor 'w': data_offsets [0, 8] hold 8 bytes; shape [3] of F32 "
                                   "needs 12");
  write_bytes(folder / "hole.safetensors",
              with_length(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})") +
                  std::string(12, 'x'));
  expect_error<std::runtime_error>([&] { read_safetensors_header(folder / "hole.safetensors"); },
                                   "tensor 'w' starts at data byte 4 but the previous tensor ends "
                                   "at 0");
}

TEST(FileIo, AtomicWriteLeavesTheOldFileWhenTheBodyFails) {
  const testing::TempFolder folder;
  write_file_atomically(folder / "f", [](OutputFile& out) { out.write("old", 3); });
  EXPECT_THROW(write_file_atomically(folder / "f",
                                     [](OutputFile& out) {
                                       out.write("new!", 4);
                                       throw std::runtime_error("disk full");
                                     }),
               std::runtime_error);
  EXPECT_EQ(read_small_file(folder / "f"), "old");
  EXPECT_FALSE(std::filesystem::exists(folder / "f.tmp"));
}

TEST(FileIo, ReadsOutsideTheFileAreErrorsNamingTheRange) {
  const testing::TempFolder folder;
  write_file_atomically(folder / "f", [](OutputFile& out) { out.write("0123456789", 10); });
  InputFile file(folder / "f");
  char buf[4];
  file.read_at(buf, 6, 4);
  EXPECT_EQ(std::string(buf, 4), "6789");
  EXPECT_EQ(file.bytes_read(), 4u);
  expect_error<std::runtime_error>([&] { file.read_at(buf, 8, 4); },
                                   "bytes [8, 12) lie outside the file (10 bytes)");
}

}  // namespace
}  // namespace tensorpar::checkpoint
