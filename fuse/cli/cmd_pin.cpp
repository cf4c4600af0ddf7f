// pin add|rm|ls and repo gc|stat.
#include <iostream>

#include "fuse/cli/cli.h"

namespace ipfskit::cli {

void RegisterPinCommands(CLI::App& app, Context& ctx) {
  auto* pin = app.add_subcommand("pin", "Pin objects so garbage collection keeps them (as `ipfs pin`).");
  pin->require_subcommand(1);
  {
    auto paths = std::make_shared<std::vector<std::string>>();
    auto recursive = std::make_shared<bool>(true);
    auto* add = pin->add_subcommand("add", "Pin objects (recursively by default).");
    add->add_option("ipfs-path", *paths)->required();
    add->add_flag("-r,--recursive", *recursive, "Pin the whole DAG (default true; --recursive=false for direct)");
    add->callback([&ctx, paths, recursive] {
      auto repo = ctx.OpenRepo();
      if (!repo.ok()) return ctx.Fail(repo.error());
      for (const auto& p : *paths) {
        auto cid = ResolveIpfsPath(ctx, p);
        if (!cid.ok()) return ctx.Fail(cid.error());
        if (!(*repo)->Has(*cid)) return ctx.Fail(p + ": block " + cid->ToString() + " not found in the repo");
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

  auto* repo_cmd = app.add_subcommand("repo", "Manipulate the repo (as `ipfs repo`).");
  repo_cmd->require_subcommand(1);
  {
    auto quiet = std::make_shared<bool>(false);
    auto* gc = repo_cmd->add_subcommand("gc", "Remove every block not reachable from a pin or the MFS root.");
    gc->add_flag("-q,--quiet", *quiet, "Write minimal output");
    gc->callback([&ctx, quiet] {
      auto repo = ctx.OpenRepo();
      if (!repo.ok()) return ctx.Fail(repo.error());
      std::vector<Cid> extra;
      if (auto root = (*repo)->GetMeta("mfs.root"); root.ok())
        if (auto c = Cid::FromBytes(*root); c.ok()) extra.push_back(*c);
      auto r = (*repo)->Gc(extra);
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
