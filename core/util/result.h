// Result<T>: a value or an Error. The one error convention inside core/.
// Converted to -errno only at the FUSE edge and to exit code + message in the CLI.
#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace ipfskit {

enum class Errc {
  kInvalidArgument,  // malformed input given by a caller (bad CID text, bad flag)
  kMalformed,        // malformed data (block, CAR, protobuf) read from storage or network
  kNotFound,         // a block, name or path that does not exist
  kHashMismatch,     // bytes whose multihash does not match their CID
  kTruncated,        // data that ended early
  kIo,               // local I/O failure
  kNoSpace,          // disk or LMDB map full
  kTimeout,          // a network wait ran out
  kHttp,             // an HTTP status other than success
  kNetwork,          // connection-level failure
  kUnsupported,      // a valid but unsupported codec, hash or feature
  kNotDir,
  kIsDir,
  kExists,
  kNotEmpty,
  kReadOnly,
  kCancelled,
  kUnavailable,      // a block no source could provide (after timeouts): EIO, never ENOENT
  kWouldBlock,       // not ready and the caller asked not to wait (O_NONBLOCK): EAGAIN
  kNameTooLong,      // a path component over 255 bytes: ENAMETOOLONG
  kInternal,
};

const char* ErrcName(Errc c);
// The errno the FUSE edge returns for an error code.
int ErrcToErrno(Errc c);

struct Error {
  Errc code;
  std::string message;
};

inline Error MakeError(Errc code, std::string message) { return Error{code, std::move(message)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}                // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}            // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }
  Error&& take_error() { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

// Result<void> equivalent.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : err_(std::move(error)), ok_(false) {}  // NOLINT
  static Status Ok() { return Status(); }
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return err_; }

 private:
  Error err_{Errc::kInternal, ""};
  bool ok_ = true;
};

// Propagate an error from an expression returning Result<T> or Status.
#define IPFSKIT_TRY_STATUS(expr)              \
  do {                                        \
    auto _st = (expr);                        \
    if (!_st.ok()) return _st.error();        \
  } while (0)

#define IPFSKIT_CONCAT_INNER(a, b) a##b
#define IPFSKIT_CONCAT(a, b) IPFSKIT_CONCAT_INNER(a, b)
#define IPFSKIT_ASSIGN_OR_RETURN(lhs, expr)                      \
  auto IPFSKIT_CONCAT(_res_, __LINE__) = (expr);                 \
  if (!IPFSKIT_CONCAT(_res_, __LINE__).ok())                     \
    return IPFSKIT_CONCAT(_res_, __LINE__).take_error();         \
  lhs = std::move(IPFSKIT_CONCAT(_res_, __LINE__)).value()

}  // namespace ipfskit
