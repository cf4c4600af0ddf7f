// dag import|export (CAR v1) and cache stats.
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <iostream>

#include "core/car/car.h"
#include "fuse/cli/cli.h"

namespace ipfskit::cli {

void RegisterDagCommands(CLI::App& app, Context& ctx) {
  auto* dag = app.add_subcommand("dag", "Import and export DAGs as CAR files (as `ipfs dag`).");
  dag->require_subcommand(1);
  {
    auto files = std::make_shared<std::vector<std::string>>();
    auto pin_roots = std::make_shared<bool>(true);
    auto stats = std::make_shared<bool>(false);
    auto* imp = dag->add_subcommand("import", "Import the blocks of CAR files (or stdin) and pin their roots.");
    imp->footer("Every block is verified against its CID; a malformed or truncated CAR is an error and\n"
                "no unverified block is stored. Roots whose DAG is incomplete are reported, not pinned.");
    imp->add_option("file", *files, "CAR files ('-' or none for stdin)");
    imp->add_flag("--pin-roots", *pin_roots, "Pin the roots (default true; --pin-roots=false to skip)");
    imp->add_flag("--stats", *stats, "Print block and byte counts");
    imp->callback([&ctx, files, pin_roots, stats] {
      auto repo = ctx.OpenRepo();
      if (!repo.ok()) return ctx.Fail(repo.error());
      std::vector<std::string> inputs = files->empty() ? std::vector<std::string>{"-"} : *files;
      uint64_t blocks = 0, bytes = 0;
      for (const auto& f : inputs) {
        int fd = f == "-" ? STDIN_FILENO : ::open(f.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return ctx.Fail(f + ": " + std::strerror(errno));
        auto r = ImportCar(FdSource(fd), **repo, *pin_roots);
        if (fd != STDIN_FILENO) ::close(fd);
        if (!r.ok()) return ctx.Fail(f + ": " + r.error().message);
        blocks += r->blocks;
        bytes += r->bytes;
        for (const auto& root : r->roots) {
          if (!*pin_roots) continue;
          if (ctx.global.json) {
            nlohmann::json j = {{"Root", {{"Cid", {{"/", root.cid.ToString()}}}, {"PinErrorMsg", root.pin_error}}}};
            std::cout << j.dump() << "\n";
          } else if (root.pinned) {
            std::cout << "Pinned root\t" << root.cid.ToString() << "\tsuccess\n";  // Kubo's line
          } else {
            std::cout << "Pinned root\t" << root.cid.ToString() << "\tFAILED: " << root.pin_error << "\n";
            ctx.exit_code = 1;
          }
        }
      }
      if (*stats) std::cout << "Imported " << blocks << " blocks (" << bytes << " bytes)\n";
    });
  }
  {
    auto path = std::make_shared<std::string>();
    auto* exp = dag->add_subcommand("export", "Write the DAG under a root as a CAR v1 to standard output.");
    exp->add_option("root", *path, "CID[/path]")->required();
    exp->callback([&ctx, path] {
      auto cid = ResolveIpfsPath(ctx, *path);
      if (!cid.ok()) return ctx.Fail(cid.error());
      auto b = ctx.Blocks();
      if (!b.ok()) return ctx.Fail(b.error());
      Status st = ExportCar(**b, *cid, FdSink(STDOUT_FILENO));
      if (!st.ok()) return ctx.Fail(st.error());
    });
  }
}

void RegisterCacheCommands(CLI::App& app, Context& ctx) {
  auto* cache = app.add_subcommand("cache", "Inspect the block cache for network content.");
  cache->require_subcommand(1);
  auto* stats = cache->add_subcommand("stats", "Hits, misses, bytes, evictions and ARC state of the cache.");
  stats->callback([&ctx] {
    auto b = ctx.Blocks();
    if (!b.ok()) return ctx.Fail(b.error());
    auto chain = ctx.chain();
    if (!chain || !chain->cache()) return ctx.Fail("no cache configured");
    nlohmann::json j = ToJson(chain->cache()->Stats());
    if (ctx.global.json) {
      std::cout << j.dump() << "\n";
    } else {
      for (auto it = j.begin(); it != j.end(); ++it) std::cout << it.key() << ": " << it.value().dump() << "\n";
    }
  });
}

}  // namespace ipfskit::cli
