// LD_PRELOAD shim for the fsync-error fault test: fsync and fdatasync fail with EIO once the file
// named by OMNIGATE_IO_ERROR_TRIGGER exists, and behave normally before that. A real failing disk
// cannot be produced on demand in a test; a store that trusts a failed fsync would acknowledge
// messages the kernel may already have dropped from its page cache.

#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace {

using SyncFn = int (*)(int);

bool triggered() {
  const char* trigger = std::getenv("OMNIGATE_IO_ERROR_TRIGGER");
  if (trigger == nullptr || *trigger == '\0') return false;
  struct stat st;
  return ::stat(trigger, &st) == 0;
}

SyncFn next(const char* name) { return reinterpret_cast<SyncFn>(::dlsym(RTLD_NEXT, name)); }

int failOr(SyncFn real, int fd) {
  if (triggered()) {
    errno = EIO;
    return -1;
  }
  if (real == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  return real(fd);
}

}  // namespace

extern "C" int fsync(int fd) {
  static const SyncFn real = next("fsync");
  return failOr(real, fd);
}

extern "C" int fdatasync(int fd) {
  static const SyncFn real = next("fdatasync");
  return failOr(real, fd);
}
