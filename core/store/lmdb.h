// Small RAII layer over the LMDB C API, shared by the repo and any component that opens its own
// named databases through Repo::env().
//
// Error policy (STYLE.md): MDB_NOTFOUND is a value, not an error; MDB_MAP_FULL becomes kNoSpace;
// MDB_CORRUPTED and MDB_PANIC stop the process, since going on could spread the damage.
#pragma once

#include <lmdb.h>

#include <string_view>
#include <utility>

#include "core/util/bytes.h"
#include "core/util/result.h"

namespace ipfskit::lmdb {

// A transaction that aborts in its destructor unless it was committed.
class Txn {
 public:
  Txn() = default;
  explicit Txn(MDB_txn* txn) : txn_(txn) {}
  Txn(Txn&& o) noexcept : txn_(std::exchange(o.txn_, nullptr)) {}
  Txn& operator=(Txn&& o) noexcept {
    if (this != &o) {
      Abort();
      txn_ = std::exchange(o.txn_, nullptr);
    }
    return *this;
  }
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn() { Abort(); }

  // Begins a transaction; flags as for mdb_txn_begin (MDB_RDONLY for a reader).
  static int Begin(MDB_env* env, unsigned flags, Txn* out) {
    MDB_txn* t = nullptr;
    int rc = mdb_txn_begin(env, nullptr, flags, &t);
    if (rc == 0) *out = Txn(t);
    return rc;
  }

  MDB_txn* get() const { return txn_; }
  explicit operator bool() const { return txn_ != nullptr; }
  // mdb_txn_commit frees the handle whether or not it succeeds.
  int Commit() { return mdb_txn_commit(std::exchange(txn_, nullptr)); }
  void Abort() {
    if (txn_) mdb_txn_abort(std::exchange(txn_, nullptr));
  }

 private:
  MDB_txn* txn_ = nullptr;
};

// A cursor, closed in its destructor. Must not outlive its transaction.
class Cursor {
 public:
  Cursor() = default;
  Cursor(Cursor&& o) noexcept : cur_(std::exchange(o.cur_, nullptr)) {}
  Cursor& operator=(Cursor&& o) noexcept {
    if (this != &o) {
      Close();
      cur_ = std::exchange(o.cur_, nullptr);
    }
    return *this;
  }
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  ~Cursor() { Close(); }

  static int Open(const Txn& txn, MDB_dbi dbi, Cursor* out) {
    MDB_cursor* c = nullptr;
    int rc = mdb_cursor_open(txn.get(), dbi, &c);
    if (rc == 0) {
      out->Close();
      out->cur_ = c;
    }
    return rc;
  }
  MDB_cursor* get() const { return cur_; }
  void Close() {
    if (cur_) mdb_cursor_close(std::exchange(cur_, nullptr));
  }

 private:
  MDB_cursor* cur_ = nullptr;
};

inline MDB_val Val(ByteView b) {
  return MDB_val{b.size(), const_cast<uint8_t*>(b.data())};
}
inline ByteView View(const MDB_val& v) {
  return ByteView(static_cast<const uint8_t*>(v.mv_data), v.mv_size);
}

// Aborts the process with a message when rc says the environment is corrupted or unusable.
void CheckFatal(int rc, std::string_view context);

// Converts an LMDB error code into an Error (after CheckFatal). `context` names the operation
// and the repo, e.g. "put block bafy… in /path/to/repo".
Error ToError(int rc, std::string_view context);

}  // namespace ipfskit::lmdb
