#pragma once
// The file operations of checkpoints: positioned reads that count their bytes, and atomic writes
// (a temporary file, flushed to disk, renamed over the target), so that a reader sees either
// the old file or the whole new one, never a part.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>

namespace tensorpar::checkpoint {

// A file open for positioned reads. Errors are std::runtime_error naming the file.
class InputFile {
 public:
  explicit InputFile(const std::string& path);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  const std::string& path() const { return path_; }
  std::uint64_t size() const { return size_; }
  // Exactly `bytes` bytes from `offset`; a range past the end is an error naming both.
  void read_at(void* dst, std::uint64_t offset, std::size_t bytes);
  // Bytes read so far, and read calls.
  std::uint64_t bytes_read() const { return bytes_read_; }
  std::uint64_t reads() const { return reads_; }

 private:
  std::string path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::uint64_t bytes_read_ = 0;
  std::uint64_t reads_ = 0;
};

// Sequential writes to an open file; errors name the file.
class OutputFile {
 public:
  OutputFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  void write(const void* data, std::size_t bytes);
  std::uint64_t written() const { return written_; }

 private:
  int fd_;
  std::string path_;
  std::uint64_t written_ = 0;
};

// Writes `path` through `body`: into path + ".tmp", flushed (fsync), then renamed over `path`,
// and the folder flushed. When body throws, the temporary file is removed and `path` is left as
// it was.
void write_file_atomically(const std::string& path, const std::function<void(OutputFile&)>& body);

// The whole (small) file as a string: an index, a header.
std::string read_small_file(const std::string& path);

}  // namespace tensorpar::checkpoint
