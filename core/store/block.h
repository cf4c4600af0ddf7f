// Block: the bytes of one block, either owned or a view into memory that `keepalive` keeps
// valid (an LMDB read transaction, so cache and repo hits are served from the memory map
// without a copy). Cheap to move; copying shares the keepalive.
#pragma once

#include <memory>

#include "core/util/bytes.h"

namespace ipfskit {

class Block {
 public:
  Block() = default;
  static Block Owned(Bytes bytes) {
    Block b;
    auto owned = std::make_shared<Bytes>(std::move(bytes));
    b.view_ = ByteView(*owned);
    b.keepalive_ = std::move(owned);
    return b;
  }
  static Block View(ByteView view, std::shared_ptr<const void> keepalive) {
    Block b;
    b.view_ = view;
    b.keepalive_ = std::move(keepalive);
    return b;
  }
  ByteView data() const { return view_; }
  size_t size() const { return view_.size(); }

 private:
  ByteView view_;
  std::shared_ptr<const void> keepalive_;
};

}  // namespace ipfskit
