#include "core/checkpoint/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/base/error.h"

namespace tensorpar::checkpoint {

namespace {

[[noreturn]] void fail(const std::string& what, const std::string& path) {
  throw std::runtime_error(cat(what, " '", path, "': ", std::strerror(errno)));
}

void sync_folder(const std::string& path) {
  std::filesystem::path folder = std::filesystem::path(path).parent_path();
  if (folder.empty()) folder = std::filesystem::current_path();
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // some file systems cannot open folders; the rename stands regardless
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

InputFile::InputFile(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) fail("cannot open", path);
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    ::close(fd_);
    fail("cannot stat", path);
  }
  size_ = static_cast<std::uint64_t>(st.st_size);
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

void InputFile::read_at(void* dst, std::uint64_t offset, std::size_t bytes) {
  check_state(offset <= size_ && bytes <= size_ - offset, "'", path_, "': bytes [", offset, ", ",
              offset + bytes, ") lie outside the file (", size_, " bytes)");
  auto* out = static_cast<char*>(dst);
  std::size_t done = 0;
  while (done < bytes) {
    const ssize_t n = ::pread(fd_, out + done, bytes - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("cannot read", path_);
    check_state(n > 0, "'", path_, "': unexpected end of file at byte ", offset + done);
    done += static_cast<std::size_t>(n);
  }
  bytes_read_ += bytes;
  ++reads_;
}

void OutputFile::write(const void* data, std::size_t bytes) {
  const auto* in = static_cast<const char*>(data);
  std::size_t done = 0;
  while (done < bytes) {
    const ssize_t n = ::write(fd_, in + done, bytes - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("cannot write", path_);
    done += static_cast<std::size_t>(n);
  }
  written_ += bytes;
}

void write_file_atomically(const std::string& path, const std::function<void(OutputFile&)>& body) {
  const std::string temporary = path + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("cannot create", temporary);
  try {
    OutputFile out(fd, temporary);
    body(out);
    if (::fsync(fd) != 0) fail("cannot flush", temporary);
  } catch (...) {
    ::close(fd);
    ::unlink(temporary.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    ::unlink(temporary.c_str());
    fail("cannot close", temporary);
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    ::unlink(temporary.c_str());
    fail("cannot rename to", path);
  }
  sync_folder(path);
}

std::string read_small_file(const std::string& path) {
  InputFile file(path);
  std::string text(file.size(), '\0');
  file.read_at(text.data(), 0, text.size());
  return text;
}

}  // namespace tensorpar::checkpoint
