// append: appends one line "<input>\n" to the file named by the environment
// variable APPEND_FILE (set it in the function's spec env), then fsyncs it,
// and answers "ok". The line is written with a single write() on a file
// opened with O_APPEND, so concurrent calls never interleave their lines.
// Fails with error type "AppendFailed" (and the errno text) when the
// variable is unset or the file cannot be opened, written or synced.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include <sluice/function.hpp>

namespace {

sluice::Result Failed(const std::string& what) {
  return sluice::Result::Error("AppendFailed", what + ": " + std::strerror(errno));
}

sluice::Result Append(sluice::Context&, std::string_view input) {
  const char* path = std::getenv("APPEND_FILE");
  if (path == nullptr || *path == '\0') {
    return sluice::Result::Error("AppendFailed", "APPEND_FILE is not set");
  }
  std::string line(input);
  line.push_back('\n');
  const int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Failed(std::string("open ") + path);
  const ssize_t n = write(fd, line.data(), line.size());
  if (n < 0 || static_cast<size_t>(n) != line.size()) {
    if (n >= 0) errno = EIO;  // a short write: report it as an I/O error
    sluice::Result r = Failed(std::string("write ") + path);
    close(fd);
    return r;
  }
  if (fsync(fd) != 0) {
    sluice::Result r = Failed(std::string("fsync ") + path);
    close(fd);
    return r;
  }
  if (close(fd) != 0) return Failed(std::string("close ") + path);
  return sluice::Result::Ok("ok");
}

}  // namespace

SLUICE_FUNCTION(Append)
