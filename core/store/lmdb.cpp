#include "core/store/lmdb.h"

#include "core/util/log.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace ipfskit::lmdb {

void CheckFatal(int rc, std::string_view context) {
  if (rc != MDB_CORRUPTED && rc != MDB_PANIC) return;
  spdlog::critical("fatal: LMDB reports {} during {}; stopping to avoid further damage. "
                   "Back up the repo directory and check the disk.",
                   mdb_strerror(rc), context);
  log::FlushLog();
  std::abort();
}

Error ToError(int rc, std::string_view context) {
  CheckFatal(rc, context);
  std::string where(context);
  switch (rc) {
    case MDB_MAP_FULL:
      return MakeError(Errc::kNoSpace,
                       "repo is full (LMDB map size reached) during " + where +
                           "; run garbage collection or reopen with a larger map size");
    case ENOSPC:
      return MakeError(Errc::kNoSpace, "no space left on device during " + where);
    case EACCES:
    case EROFS:
      return MakeError(Errc::kReadOnly, std::string(mdb_strerror(rc)) + " during " + where);
    case MDB_READERS_FULL:
      return MakeError(Errc::kIo, "too many concurrent LMDB readers during " + where);
    case MDB_TXN_FULL:
      return MakeError(Errc::kIo, "LMDB transaction too large during " + where);
    case MDB_NOTFOUND:
      return MakeError(Errc::kNotFound, "not found during " + where);
    default:
      return MakeError(Errc::kIo, "LMDB error during " + where + ": " + mdb_strerror(rc));
  }
}

}  // namespace ipfskit::lmdb
