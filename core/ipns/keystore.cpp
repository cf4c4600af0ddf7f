#include "core/ipns/keystore.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>

#include "core/multiformats/multibase.h"

namespace ipfskit {
namespace {

constexpr std::string_view kPrefix = "key_";
constexpr const char* kSelf = "self";
// The largest key file we read: an 8192-bit RSA PKCS#1 key is under 5 KiB.
constexpr size_t kMaxKeyFile = 64 << 10;
// "key_" + base32 (8 chars per 5 bytes) must fit in NAME_MAX (255).
constexpr size_t kMaxKeyNameBytes = (255 - 4) * 5 / 8;

Error Errno(const std::string& what) {
  int e = errno;
  Errc code = e == ENOSPC ? Errc::kNoSpace : e == ENOENT ? Errc::kNotFound : Errc::kIo;
  return MakeError(code, what + ": " + std::strerror(e));
}

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

Status FsyncDir(const std::string& dir) {
  Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.fd < 0 || ::fsync(d.fd) != 0) return Errno("fsync " + dir);
  return Status::Ok();
}

// Writes `data` to a new temporary file in `dir` (0600), fsynced; returns its path.
Result<std::string> WriteTemp(const std::string& dir, ByteView data) {
  static std::atomic<uint64_t> counter{0};
  std::string path = dir + "/.tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  Fd f(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (f.fd < 0) return Errno("create " + path);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(f.fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Error e = Errno("write " + path);
      ::unlink(path.c_str());
      return e;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(f.fd) != 0) {
    Error e = Errno("fsync " + path);
    ::unlink(path.c_str());
    return e;
  }
  return path;
}

Result<Bytes> ReadKeyFile(const std::string& path, const std::string& name) {
  Fd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (f.fd < 0) {
    if (errno == ENOENT) return MakeError(Errc::kNotFound, "no key named " + name);
    return Errno("open " + path);
  }
  Bytes out;
  uint8_t buf[8192];
  while (true) {
    ssize_t n = ::read(f.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("read " + path);
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
    if (out.size() > kMaxKeyFile) return MakeError(Errc::kMalformed, "key file " + path + " is too large");
  }
  return out;
}

}  // namespace

Status Keystore::CheckName(const std::string& name) {
  if (name.empty()) return MakeError(Errc::kInvalidArgument, "key names must be at least one character");
  if (name.size() > kMaxKeyNameBytes)
    return MakeError(Errc::kInvalidArgument, "key names may be at most " + std::to_string(kMaxKeyNameBytes) + " bytes");
  if (name.find('/') != std::string::npos) return MakeError(Errc::kInvalidArgument, "key names may not contain slashes");
  if (name[0] == '.') return MakeError(Errc::kInvalidArgument, "key names may not begin with a period");
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f) return MakeError(Errc::kInvalidArgument, "key names may not contain control characters");
  return Status::Ok();
}

Result<Keystore> Keystore::Open(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (::mkdir(dir.c_str(), 0700) == 0) {
    // mkdir's mode passes through the umask; the keystore is private whatever it is.
    if (::chmod(dir.c_str(), 0700) != 0) return Errno("chmod " + dir);
  } else if (errno != EEXIST) {
    return Errno("create keystore " + dir);
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return Errno("stat " + dir);
  if (!S_ISDIR(st.st_mode)) return MakeError(Errc::kNotDir, "keystore " + dir + " is not a directory");
  return Keystore(std::move(dir));
}

std::string Keystore::PathFor(const std::string& name) const {
  return dir_ + "/" + std::string(kPrefix) + EncodeBase(Multibase::kBase32, AsBytes(name));
}

Result<PrivateKey> Keystore::Get(const std::string& name) const {
  IPFSKIT_TRY_STATUS(CheckName(name));
  IPFSKIT_ASSIGN_OR_RETURN(Bytes raw, ReadKeyFile(PathFor(name), name));
  auto key = PrivateKey::FromProtobuf(raw);
  if (!key.ok()) return MakeError(key.error().code, "key " + name + " (" + PathFor(name) + "): " + key.error().message);
  return key;
}

// Publishes a temporary file under `final_path` with link(2), which fails instead of
// replacing an existing key: two writers of one name cannot overwrite each other.
static Status LinkNew(const std::string& dir, const std::string& tmp, const std::string& final_path,
                      const std::string& name) {
  int rc = ::link(tmp.c_str(), final_path.c_str());
  int err = errno;
  ::unlink(tmp.c_str());
  if (rc != 0) {
    errno = err;
    if (err == EEXIST) return MakeError(Errc::kExists, "key " + name + " already exists");
    return Errno("link " + final_path);
  }
  return FsyncDir(dir);
}

Status Keystore::Put(const std::string& name, const PrivateKey& key) {
  IPFSKIT_TRY_STATUS(CheckName(name));
  if (name == kSelf) return MakeError(Errc::kExists, "the key name 'self' is reserved for the node's own key");
  if (!key.valid()) return MakeError(Errc::kInvalidArgument, "no key to store");
  Bytes pb = key.ToProtobuf();
  if (pb.empty()) return MakeError(Errc::kInternal, "cannot encode key " + name);
  IPFSKIT_ASSIGN_OR_RETURN(std::string tmp, WriteTemp(dir_, pb));
  return LinkNew(dir_, tmp, PathFor(name), name);
}

Result<PrivateKey> Keystore::Self() {
  auto existing = Get(kSelf);
  if (existing.ok() || existing.error().code != Errc::kNotFound) return existing;
  IPFSKIT_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::Generate(KeyType::kEd25519));
  IPFSKIT_ASSIGN_OR_RETURN(std::string tmp, WriteTemp(dir_, key.ToProtobuf()));
  Status st = LinkNew(dir_, tmp, PathFor(kSelf), kSelf);
  // Another process created it first: use theirs, so everyone agrees on one self.
  if (!st.ok() && st.error().code == Errc::kExists) return Get(kSelf);
  if (!st.ok()) return st.error();
  return key;
}

Result<std::vector<KeyInfo>> Keystore::List() const {
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir_.c_str()), ::closedir);
  if (!d) return Errno("open keystore " + dir_);
  std::vector<KeyInfo> out;
  errno = 0;
  while (dirent* e = ::readdir(d.get())) {
    std::string_view file = e->d_name;
    if (!file.starts_with(kPrefix)) continue;  // temporaries and foreign files
    auto decoded = DecodeBase(Multibase::kBase32, file.substr(kPrefix.size()));
    if (!decoded.ok()) continue;
    std::string name(AsChars(*decoded));
    if (!CheckName(name).ok() || PathFor(name) != dir_ + "/" + std::string(file)) continue;
    auto key = Get(name);
    if (!key.ok()) {
      if (key.error().code == Errc::kNotFound) continue;  // removed meanwhile
      return key.take_error();
    }
    out.push_back(KeyInfo{name, IpnsName::FromPublicKey(key->Public()), key->type()});
  }
  std::sort(out.begin(), out.end(), [](const KeyInfo& a, const KeyInfo& b) {
    if ((a.name == kSelf) != (b.name == kSelf)) return a.name == kSelf;
    return a.name < b.name;
  });
  return out;
}

Result<std::optional<KeyInfo>> Keystore::FindById(const IpnsName& id) const {
  IPFSKIT_ASSIGN_OR_RETURN(std::vector<KeyInfo> keys, List());
  for (KeyInfo& k : keys)
    if (k.id == id) return std::optional<KeyInfo>(std::move(k));
  return std::optional<KeyInfo>();
}

Status Keystore::Remove(const std::string& name) {
  IPFSKIT_TRY_STATUS(CheckName(name));
  if (name == kSelf) return MakeError(Errc::kInvalidArgument, "cannot remove key with name 'self'");
  if (::unlink(PathFor(name).c_str()) != 0) {
    if (errno == ENOENT) return MakeError(Errc::kNotFound, "no key named " + name);
    return Errno("remove key " + name);
  }
  return FsyncDir(dir_);
}

Status Keystore::Rename(const std::string& from, const std::string& to, bool overwrite) {
  IPFSKIT_TRY_STATUS(CheckName(from));
  IPFSKIT_TRY_STATUS(CheckName(to));
  if (from == kSelf) return MakeError(Errc::kInvalidArgument, "cannot rename key with name 'self'");
  if (to == kSelf) return MakeError(Errc::kInvalidArgument, "cannot overwrite key with name 'self'");
  if (from == to) return MakeError(Errc::kInvalidArgument, "old and new key names are the same");
  // Make sure `from` is a key we can read before moving it anywhere.
  IPFSKIT_ASSIGN_OR_RETURN(PrivateKey key, Get(from));
  (void)key;
  const std::string src = PathFor(from), dst = PathFor(to);
  if (overwrite) {
    if (::rename(src.c_str(), dst.c_str()) != 0) return Errno("rename key " + from + " to " + to);
  } else {
    // link + unlink instead of rename: rename would replace a key created meanwhile.
    if (::link(src.c_str(), dst.c_str()) != 0) {
      if (errno == EEXIST) return MakeError(Errc::kExists, "key " + to + " already exists, refusing to overwrite");
      return Errno("rename key " + from + " to " + to);
    }
    if (::unlink(src.c_str()) != 0) return Errno("remove old key file " + src);
  }
  return FsyncDir(dir_);
}

}  // namespace ipfskit
