#include "daemon/transport/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace omnigate::transport {
namespace {

constexpr int kMaxNameAttempts = 16;
constexpr mode_t kFileMode = 0640;  // outbox files hold personal data

Error fileError(const std::string& what, const std::string& path, int error_number) {
  return makeError("file_write", what + " " + path + ": " + std::strerror(error_number));
}

std::string temporaryName(const std::string& path) {
  static std::atomic<unsigned long> counter{0};
  return path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(++counter);
}

Status writeAll(int fd, std::string_view contents, const std::string& name) {
  while (!contents.empty()) {
    ssize_t written = ::write(fd, contents.data(), contents.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return fileError("cannot write", name, errno);
    }
    contents.remove_prefix(static_cast<std::size_t>(written));
  }
  return Ok{};
}

Status syncDirectory(const std::filesystem::path& directory) {
  int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fileError("cannot open directory", directory.string(), errno);
  int synced = ::fsync(fd);
  int sync_errno = errno;
  ::close(fd);
  if (synced != 0) return fileError("cannot fsync directory", directory.string(), sync_errno);
  return Ok{};
}

}  // namespace

Status writeFileAtomically(const std::string& path, std::string_view contents) {
  if (path.empty()) return makeError("file_write", "empty file path");
  std::filesystem::path target(path);
  if (!target.has_filename()) return fileError("not a file path", path, EISDIR);
  std::filesystem::path directory = target.parent_path();
  if (directory.empty()) directory = ".";

  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  if (ec) return fileError("cannot create directory", directory.string(), ec.value());

  std::string temporary;
  int fd = -1;
  for (int attempt = 0; attempt < kMaxNameAttempts && fd < 0; ++attempt) {
    temporary = temporaryName(path);
    fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, kFileMode);
    // A leftover from a crashed process with the same pid: pick the next name.
    if (fd < 0 && errno != EEXIST) return fileError("cannot create", temporary, errno);
  }
  if (fd < 0) return fileError("cannot create", temporary, EEXIST);

  auto abandon = [&](Error error) -> Status {
    ::unlink(temporary.c_str());
    return error;
  };
  if (auto written = writeAll(fd, contents, temporary); !written) {
    ::close(fd);
    return abandon(written.error());
  }
  if (::fsync(fd) != 0) {
    int sync_errno = errno;
    ::close(fd);
    return abandon(fileError("cannot fsync", temporary, sync_errno));
  }
  if (::close(fd) != 0) return abandon(fileError("cannot close", temporary, errno));
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    return abandon(fileError("cannot rename onto", path, errno));
  }
  return syncDirectory(directory);
}

}  // namespace omnigate::transport
