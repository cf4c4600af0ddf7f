#include "core/infer/model_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ipfskit::infer {

bool IsSafeRelativePath(std::string_view p) {
  if (p.empty() || p.front() == '/') return false;
  size_t pos = 0;
  while (pos <= p.size()) {
    size_t slash = p.find('/', pos);
    std::string_view part = p.substr(pos, slash == std::string_view::npos ? p.npos : slash - pos);
    if (part == "..") return false;
    if (slash == std::string_view::npos) break;
    pos = slash + 1;
  }
  return true;
}

Result<Bytes> DirectoryModelFiles::Read(std::string_view relpath) {
  if (!IsSafeRelativePath(relpath))
    return MakeError(Errc::kInvalidArgument, "model file path '" + std::string(relpath) + "'");
  std::string path = dir_ + "/" + std::string(relpath);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return MakeError(e == ENOENT ? Errc::kNotFound : Errc::kIo, path + ": " + std::strerror(e));
  }
  Bytes out;
  struct stat st;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) out.reserve(size_t(st.st_size));
  uint8_t buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return MakeError(Errc::kIo, path + ": " + std::strerror(e));
    }
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
  }
  ::close(fd);
  return out;
}

bool DirectoryModelFiles::Exists(std::string_view relpath) {
  if (!IsSafeRelativePath(relpath)) return false;
  struct stat st;
  return ::stat((dir_ + "/" + std::string(relpath)).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace ipfskit::infer
