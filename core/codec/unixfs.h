// UnixFS Data message (the Data field of a dag-pb node), encoded in field-number order as
// boxo writes it, decoded strictly. Includes HAMT fields and UnixFS 1.5 mode/mtime.
#pragma once

#include <optional>
#include <vector>

#include "core/util/bytes.h"
#include "core/util/result.h"

namespace ipfskit {

enum class UnixfsType : uint8_t {
  kRaw = 0,
  kDirectory = 1,
  kFile = 2,
  kMetadata = 3,
  kSymlink = 4,
  kHamtShard = 5,
};

struct UnixfsMtime {
  int64_t seconds = 0;
  uint32_t nanos = 0;  // written only when > 0
};

struct UnixfsData {
  UnixfsType type = UnixfsType::kFile;
  std::optional<Bytes> data;
  std::optional<uint64_t> filesize;
  std::vector<uint64_t> blocksizes;
  std::optional<uint64_t> hash_type;
  std::optional<uint64_t> fanout;
  std::optional<uint32_t> mode;  // 12 permission bits
  std::optional<UnixfsMtime> mtime;

  // File bytes this node stands for: filesize if set, else len(data) for leaves.
  uint64_t FileSize() const;
};

Bytes EncodeUnixfs(const UnixfsData& d);
Result<UnixfsData> DecodeUnixfs(ByteView bytes);

}  // namespace ipfskit
