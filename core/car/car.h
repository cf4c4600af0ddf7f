// CAR (content-addressed archive) v1: streaming reader, writer, and repo import/export.
// Format: ipld/ipld specs/transport/car/carv1 (see ../shared/specs/ipfs-formats.md §2).
//   varint(header length) ‖ dag-cbor {"roots": [CID…], "version": 1}
//   then sections: varint(length) ‖ CID ‖ block bytes
// A CARv2 file (pragma + fixed header) is read through to its inner v1 payload; its index is
// ignored.
#pragma once

#include <functional>
#include <istream>
#include <memory>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "core/multiformats/cid.h"
#include "core/store/block_store.h"
#include "core/util/bytes.h"
#include "core/util/result.h"

namespace ipfskit {

class Repo;

// Where CAR bytes come from: fills `buf` with up to buf.size() bytes and returns how many
// (0 only at the end of the input), or an error (kIo, kNetwork, …) that aborts the read.
using CarSource = std::function<Result<size_t>(std::span<uint8_t> buf)>;
// Where CAR bytes go: must take all of `bytes` or fail.
using CarSink = std::function<Status(ByteView bytes)>;

// Sources and sinks over the usual things. The fd, stream or bytes must outlive the function.
CarSource FdSource(int fd);
CarSource IstreamSource(std::istream& in);
CarSource BytesSource(ByteView bytes);
CarSink FdSink(int fd);
CarSink OstreamSink(std::ostream& out);
CarSink BytesSink(Bytes& out);

// Blocks larger than this are refused (boxo's limit; Kubo's --allow-big-block lifts it).
constexpr size_t kMaxCarBlockSize = size_t{2} << 20;
// go-car's cap on the header.
constexpr size_t kMaxCarHeaderSize = size_t{32} << 20;

struct CarReadOptions {
  size_t max_block_size = kMaxCarBlockSize;
};

struct CarBlock {
  Cid cid;
  ByteView data;        // valid until the next call to Next()
  uint64_t offset = 0;  // byte offset of the section (its length varint) in the input
};

// Reads a CAR front to back, holding one section in memory at a time. Every block is checked
// against its CID's multihash; a mismatch, a malformed or truncated section, or a block over
// the size cap is an error whose message names the byte offset. Not thread-safe.
class CarReader {
 public:
  // Reads and checks the header (and the CARv2 wrapper, if any).
  static Result<std::unique_ptr<CarReader>> Open(CarSource source, CarReadOptions options = {});
  ~CarReader();

  const std::vector<Cid>& roots() const { return roots_; }
  // 1, or 2 for a CARv2 file whose inner v1 payload is being read.
  int version() const { return version_; }

  // The next verified block, or nullopt at the clean end of the input.
  Result<std::optional<CarBlock>> Next();

 private:
  struct Input;
  CarReader() = default;
  std::unique_ptr<Input> in_;
  CarReadOptions options_;
  std::vector<Cid> roots_;
  int version_ = 1;
  Bytes section_;
};

// The CARv1 header bytes (length varint included) for these roots, in canonical dag-cbor.
Bytes EncodeCarHeader(const std::vector<Cid>& roots);
// One section: varint(len(cid)+len(data)) ‖ cid ‖ data.
void AppendCarSection(Bytes& out, const Cid& cid, ByteView data);

struct CarRootResult {
  Cid cid;
  bool pinned = false;
  std::string pin_error;  // why pinning failed (e.g. the DAG is incomplete), when it did
};

struct CarImportResult {
  std::vector<CarRootResult> roots;
  uint64_t blocks = 0;  // sections read and verified (identity blocks included, not stored)
  uint64_t bytes = 0;   // block bytes read
};

// Imports every block of a CAR into the repo through a batched writer, then, with pin_roots,
// pins each root recursively as Kubo's `dag import` does: only when its whole DAG is present
// locally, else the root is reported with pinned = false and pin_error set (the import itself
// still succeeds). On a read error, the blocks already verified stay stored (they are valid,
// unpinned, and collectable); no unverified block is ever stored.
Result<CarImportResult> ImportCar(const CarSource& source, Repo& repo, bool pin_roots,
                                  CarReadOptions options = {});

// Writes a CARv1 of the DAG under `root` to `sink`: header with the root, then each block once
// in depth-first pre-order following DagLinks (dag-pb, dag-cbor and dag-json links); identity blocks are
// not written (their links are followed). A missing block is kNotFound naming its CID; the sink
// may then have received part of the CAR, so callers writing a file should write a temporary
// one and rename it on success.
Status ExportCar(BlockGetter& blocks, const Cid& root, const CarSink& sink);

// Checks that the whole DAG under `root` is available from `blocks`; kNotFound names the first
// missing CID.
Status CheckDagComplete(BlockGetter& blocks, const Cid& root);

}  // namespace ipfskit
