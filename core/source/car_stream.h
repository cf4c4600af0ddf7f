// CarStreamReader: a push parser for CARv1 bodies as they arrive from a gateway. It lives here
// because no shared CAR reader existed in core/car when the gateway source was written; it does
// only what a trustless-gateway client needs (ipfs-formats.md §2): header check, section split,
// digest check of every block, 2 MiB block cap, and a completeness check at the end.
#pragma once

#include <functional>

#include "core/multiformats/cid.h"
#include "core/util/bytes.h"
#include "core/util/result.h"

namespace ipfskit {

class CarStreamReader {
 public:
  static constexpr size_t kMaxBlock = size_t{2} << 20;
  static constexpr size_t kMaxHeader = size_t{1} << 20;

  // Called for each verified block. Returning an error stops the parse with it.
  using OnBlock = std::function<Status(const Cid&, ByteView)>;
  explicit CarStreamReader(OnBlock on_block) : on_block_(std::move(on_block)) {}

  // Feeds the next bytes. Errors: kMalformed (bad header or section), kHashMismatch (a block
  // whose bytes do not match its CID), or the on_block error. After an error, stop feeding.
  Status Feed(ByteView chunk);
  // The stream ended: kTruncated unless it ended exactly between sections after a header.
  Status Finish() const;

  uint64_t blocks() const { return blocks_; }
  uint64_t bytes() const { return bytes_; }

 private:
  Status Consume();

  OnBlock on_block_;
  Bytes buf_;          // unconsumed input
  bool have_header_ = false;
  uint64_t blocks_ = 0;
  uint64_t bytes_ = 0;
};

}  // namespace ipfskit
