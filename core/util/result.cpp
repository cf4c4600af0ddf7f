#include "core/util/result.h"

namespace ipfskit {

const char* ErrcName(Errc c) {
  switch (c) {
    case Errc::kInvalidArgument: return "invalid_argument";
    case Errc::kMalformed: return "malformed";
    case Errc::kNotFound: return "not_found";
    case Errc::kHashMismatch: return "hash_mismatch";
    case Errc::kTruncated: return "truncated";
    case Errc::kIo: return "io";
    case Errc::kNoSpace: return "no_space";
    case Errc::kTimeout: return "timeout";
    case Errc::kHttp: return "http";
    case Errc::kNetwork: return "network";
    case Errc::kUnsupported: return "unsupported";
    case Errc::kNotDir: return "not_dir";
    case Errc::kIsDir: return "is_dir";
    case Errc::kExists: return "exists";
    case Errc::kNotEmpty: return "not_empty";
    case Errc::kReadOnly: return "read_only";
    case Errc::kCancelled: return "cancelled";
    case Errc::kUnavailable: return "unavailable";
    case Errc::kWouldBlock: return "would_block";
    case Errc::kNameTooLong: return "name_too_long";
    case Errc::kInternal: return "internal";
  }
  return "unknown";
}

int ErrcToErrno(Errc c) {
  switch (c) {
    case Errc::kInvalidArgument: return EINVAL;
    case Errc::kNotFound: return ENOENT;
    case Errc::kNoSpace: return ENOSPC;
    case Errc::kNotDir: return ENOTDIR;
    case Errc::kIsDir: return EISDIR;
    case Errc::kExists: return EEXIST;
    case Errc::kNotEmpty: return ENOTEMPTY;
    case Errc::kReadOnly: return EROFS;
    case Errc::kUnsupported: return EOPNOTSUPP;
    case Errc::kCancelled: return EINTR;
    case Errc::kWouldBlock: return EAGAIN;
    case Errc::kNameTooLong: return ENAMETOOLONG;
    case Errc::kUnavailable:
    case Errc::kTimeout:
    case Errc::kMalformed:
    case Errc::kHashMismatch:
    case Errc::kTruncated:
    case Errc::kHttp:
    case Errc::kNetwork:
    case Errc::kIo:
    case Errc::kInternal: return EIO;
  }
  return EIO;
}

}  // namespace ipfskit
