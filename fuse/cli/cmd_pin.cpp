// pin add|rm|ls and repo gc|stat.
#include <iostream>
#include <unordered_set>

#include "core/store/dag_links.h"
#include "fuse/cli/cli.h"

namespace ipfskit::cli {

namespace {

// Makes the DAG under `root` (only the root block when !recursive) local, as Kubo's `pin add`
// does: every block comes from the repo, the cache or the network sources and is stored in the
// repo (blocks only in the cache would be evicted under the pin). Any block that cannot be had
// is an error, so a partial DAG is never pinned. Blocks are copied out and written in batches
// between fetches: a fetch may write to the cache, and LMDB allows one write txn at a time.
// `writer` (from repo.NewWriter) must live until the root is pinned: its lease keeps every
// batch from a concurrent gc.
Status FetchDagIntoRepo(Context& ctx, Repo& repo, BlockSink& writer, const Cid& root, bool recursive) {
  IPFSKIT_ASSIGN_OR_RETURN(auto blocks, ctx.Blocks());
  auto chain = ctx.chain();
  Progress progress("fetched", 0);
  std::unordered_set<Cid> seen;
  std::vector<Cid> stack{root};
  std::vector<std::pair<Cid, Bytes>> pending;
  size_t pending_bytes = 0;
  uint64_t done = 0;
  auto write_pending = [&]() -> Status {
    if (pending.empty()) return Status::Ok();
    for (const auto& [cid, data] : pending) IPFSKIT_TRY_STATUS(writer.Put(cid, data));
    IPFSKIT_TRY_STATUS(writer.Flush());
    pending.clear();
    pending_bytes = 0;
    return Status::Ok();
  };
  while (!stack.empty()) {
    Cid cid = std::move(stack.back());
    stack.pop_back();
    if (!seen.insert(cid).second) continue;
    std::vector<Cid> links;
    {
      auto blk = blocks->Get(cid);
      if (!blk.ok())
        return MakeError(blk.error().code, "cannot fetch block " + cid.ToString() + " of " + root.ToString() +
                                               " (nothing pinned): " + blk.error().message);
      done += blk->size();
      progress.Update(done);
      if (recursive) {
        IPFSKIT_ASSIGN_OR_RETURN(links, DagLinks(cid, blk->data()));
      }
      if (!cid.is_identity() && !repo.Has(cid)) {
        pending.emplace_back(cid, Bytes(blk->data().begin(), blk->data().end()));
        pending_bytes += blk->size();
      }
    }
    if (pending_bytes >= (16u << 20)) IPFSKIT_TRY_STATUS(write_pending());
    if (chain && !links.empty()) chain->Prefetch(links);  // fetch siblings in parallel
    for (auto it = links.rbegin(); it != links.rend(); ++it)
      if (!seen.count(*it)) stack.push_back(*it);
  }
  IPFSKIT_TRY_STATUS(write_pending());
  progress.Finish();
  return Status::Ok();
}

}  // namespace

void RegisterPinCommands(CLI::App& app, Context& ctx) {
  auto* pin = app.add_subcommand("pin", "Pin objects so garbage collection keeps them (as `ipfs pin`).");
  pin->require_subcommand(1);
  {
    auto paths = std::make_shared<std::vector<std::string>>();
    auto recursive = std::make_shared<bool>(true);
    auto* add = pin->add_subcommand("add", "Pin objects (recursively by default), fetching what is not local.");
    add->footer("As Kubo: the whole DAG is fetched from the sources into the repo first (progress on a\n"
                "terminal); when any block cannot be fetched, nothing is pinned.");
    add->add_option("ipfs-path", *paths)->required();
    add->add_flag("-r,--recursive", *recursive, "Pin the whole DAG (default true; --recursive=false for direct)");
    add->callback([&ctx, paths, recursive] {
      auto repo = ctx.OpenRepo();
      if (!repo.ok()) return ctx.Fail(repo.error());
      for (const auto& p : *paths) {
        auto cid = ResolveIpfsPath(ctx, p);
        if (!cid.ok()) return ctx.Fail(cid.error());
        auto writer = (*repo)->NewWriter(16 << 20);
        Status got = FetchDagIntoRepo(ctx, **repo, *writer, *cid, *recursive);
        if (!got.ok()) return ctx.Fail(p + ": " + got.error().message);
        Status st = (*repo)->Pin(*cid, *recursive ? PinType::kRecursive : PinType::kDirect);
        if (!st.ok()) return ctx.Fail(st.error());
        std::cout << "pinned " << cid->ToString() << (*recursive ? " recursively" : " directly") << "\n";
      }
    });
  }
  {
    auto paths = std::make_shared<std::vector<std::string>>();
    auto* rm = pin->add_subcommand("rm", "Remove pins.");
    rm->add_option("ipfs-path", *paths)->required();
    rm->callback([&ctx, paths] {
      auto repo = ctx.OpenRepo();
      if (!repo.ok()) return ctx.Fail(repo.error());
      for (const auto& p : *paths) {
        auto cid = ResolveIpfsPath(ctx, p);
        if (!cid.ok()) return ctx.Fail(cid.error());
        Status st = (*repo)->Unpin(*cid);
        if (!st.ok()) return ctx.Fail(p + ": not pinned");
        std::cout << "unpinned " << cid->ToString() << "\n";
      }
    });
  }
  {
    auto type = std::make_shared<std::string>("all");
    auto quiet = std::make_shared<bool>(false);
    auto* ls = pin->add_subcommand("ls", "List pinned objects: <cid> <type>.");
    ls->add_option("-t,--type", *type, "direct, recursive or all");
    ls->add_flag("-q,--quiet", *quiet, "Write just hashes");
    ls->callback([&ctx, type, quiet] {
      auto repo = ctx.OpenRepo();
      if (!repo.ok()) return ctx.Fail(repo.error());
      auto pins = (*repo)->ListPins();
      if (!pins.ok()) return ctx.Fail(pins.error());
      nlohmann::json keys = nlohmann::json::object();
      for (const auto& [cid, t] : *pins) {
        std::string tn = t == PinType::kRecursive ? "recursive" : "direct";
        if (*type != "all" && *type != tn) continue;
        if (ctx.global.json) keys[cid.ToString()] = {{"Type", tn}};
        else if (*quiet) std::cout << cid.ToString() << "\n";
        else std::cout << cid.ToString() << " " << tn << "\n";
      }
      if (ctx.global.json) std::cout << nlohmann::json{{"Keys", keys}}.dump() << "\n";
    });
  }

  RegisterPinRemoteCommands(pin, ctx);

  auto* repo_cmd = app.add_subcommand("repo", "Manipulate the repo (as `ipfs repo`).");
  repo_cmd->require_subcommand(1);
  {
    auto quiet = std::make_shared<bool>(false);
    auto* gc = repo_cmd->add_subcommand("gc", "Remove every block not reachable from a pin or the MFS root.");
    gc->add_flag("-q,--quiet", *quiet, "Write minimal output");
    gc->callback([&ctx, quiet] {
      auto repo = ctx.OpenRepo();
      if (!repo.ok()) return ctx.Fail(repo.error());
      // The MFS root and every lease (a mount's or an import's blocks not yet under a root) are
      // roots recorded in the repo; Repo::Gc keeps them.
      auto r = (*repo)->Gc();
      if (!r.ok()) return ctx.Fail(r.error());
      for (const auto& c : r->removed) {
        if (ctx.global.json) std::cout << nlohmann::json{{"Key", c.ToString()}}.dump() << "\n";
        else if (*quiet) std::cout << c.ToString() << "\n";
        else std::cout << "removed " << c.ToString() << "\n";
      }
    });
  }
  {
    auto* stat = repo_cmd->add_subcommand("stat", "Show repo size and object count.");
    stat->callback([&ctx] {
      auto repo = ctx.OpenRepo();
      if (!repo.ok()) return ctx.Fail(repo.error());
      auto s = (*repo)->Stat();
      if (!s.ok()) return ctx.Fail(s.error());
      if (ctx.global.json) {
        std::cout << nlohmann::json{{"NumObjects", s->num_blocks}, {"RepoSize", s->disk_bytes},
                                    {"BlocksSize", s->blocks_bytes}, {"StorageMax", s->map_size},
                                    {"NumPins", s->num_pins}, {"RepoPath", (*repo)->path()},
                                    {"Version", "fs-repo@" + std::to_string(Repo::kVersion)}}
                         .dump()
                  << "\n";
      } else {
        std::cout << "NumObjects: " << s->num_blocks << "\nRepoSize:   " << s->disk_bytes
                  << "\nBlocksSize: " << s->blocks_bytes << "\nStorageMax: " << s->map_size
                  << "\nNumPins:    " << s->num_pins << "\nRepoPath:   " << (*repo)->path()
                  << "\nVersion:    fs-repo@" << Repo::kVersion << "\n";
      }
    });
  }
}

}  // namespace ipfskit::cli
