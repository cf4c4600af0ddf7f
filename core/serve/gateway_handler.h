// GatewayHandler: the trustless gateway (specs http-gateways/trustless-gateway.md; the facts in
// ../shared/specs/ipfs-formats.md §2) as an ServerHandler:
//   GET|HEAD /ipfs/<cid>[/path]?format=raw   (or Accept: application/vnd.ipld.raw)
//       the one block the path ends at; single byte ranges (Range: bytes=a-b) give 206/416.
//   GET|HEAD /ipfs/<cid>[/path]?format=car   (or Accept: application/vnd.ipld.car)
//       a CARv1, order=dfs, dups=n (default) or y, with dag-scope=block|entity|all (default all)
//       and entity-bytes=from:to for files. The CAR holds the blocks needed to verify the path
//       (the root and every directory block or HAMT shard walked), then the scope, depth-first
//       pre-order, streamed as the blocks are read: it is never buffered whole. Identity blocks
//       are not written (their links are followed). A block that cannot be had once the 200 is
//       out cuts the stream (the client sees a truncated CAR, never a clean end).
//         block: the path's last block only;
//         entity: a UnixFS file: all its blocks (with entity-bytes: only those covering the
//           range, internal nodes included); a directory: its own block; a HAMT directory: its
//           shards (not the entries); anything else: its block;
//         all: the whole DAG under the path's end.
//   GET|HEAD /ipns/<name>?format=ipns-record  (or Accept: application/vnd.ipfs.ipns-record)
//       the signed record as the name system holds it (404 when there is none).
// Status codes: 400 a bad CID, name, path (".." or "." segments) or parameter; 404 the root or a
// path segment cannot be had (no source has it); 406 no format asked for (this gateway does not
// deserialize); 412 `Cache-Control: only-if-cached` and the root block is not local; 504 a fetch
// ran out of time; 502 any other fetch failure. Success responses are immutable
// (`Cache-Control: public, max-age=29030400, immutable`) with a quoted ETag that differs per
// format, path, scope, dups and entity-bytes; If-None-Match with it gives 304.
//
// Thread-safe: Handle may run on many connection threads at once; it holds no mutable state
// beyond the BlockGetter and NameSys, which are thread-safe. A streamed body keeps shared
// ownership of the BlockGetter, so it may outlive the handler.
#pragma once

#include <memory>

#include "core/ipns/namesys.h"
#include "core/serve/http_server.h"
#include "core/store/block_store.h"

namespace ipfskit {

class GatewayHandler {
 public:
  // blocks: where blocks come from (the node's source chain, or the repo and cache only);
  // Has() must answer "local" (repo or cache) for only-if-cached. names may be null: then /ipns
  // answers 501.
  GatewayHandler(std::shared_ptr<BlockGetter> blocks, std::shared_ptr<NameSys> names);

  ServerResponse Handle(const ServerRequest& req);
  ServerHandler AsHandler() {
    return [this](const ServerRequest& r) { return Handle(r); };
  }

 private:
  ServerResponse HandleIpfs(const ServerRequest& req, std::string_view rest);
  ServerResponse HandleIpns(const ServerRequest& req, std::string_view rest);

  std::shared_ptr<BlockGetter> blocks_;
  std::shared_ptr<NameSys> names_;
};

// The `Cache-Control` of immutable responses.
inline constexpr const char* kImmutableCacheControl = "public, max-age=29030400, immutable";

}  // namespace ipfskit
