// The one place that turns a Config into the block getter the mount and the CLI use.
#pragma once

#include <memory>

#include "core/config/config.h"
#include "core/source/source_chain.h"
#include "core/store/repo.h"

namespace ipfskit {

// Builds local repo -> ARC cache (in the repo's LMDB env) -> Kubo RPC -> gateways.
// With config.offline (or no sources configured) only the repo and the cache are read.
// A default Kubo address (not set by the user) is used only if it answers a short probe.
// repo may be null (no local blocks, no cache).
Result<std::shared_ptr<SourceChain>> MakeSourceChain(const Config& config, std::shared_ptr<Repo> repo);

// The pieces of MakeSourceChain, for callers that build their own chain.
RemoteOptions RemoteOptionsFrom(const NetConfig& net);
ChainOptions ChainOptionsFrom(const NetConfig& net);

}  // namespace ipfskit
