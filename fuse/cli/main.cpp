// ipfskit: the command line. Global options come before the command, as with Kubo's `ipfs`.
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "fuse/cli/cli.h"

static bool IsSubcommand(CLI::App& app, const std::string& name) {
  for (const auto* sub : app.get_subcommands([](CLI::App*) { return true; }))
    if (sub->check_name(name)) return true;
  return false;
}

int main(int argc, char** argv) {
  using namespace ipfskit::cli;
  Context ctx;
  CLI::App app{"ipfskit: IPFS as a FUSE filesystem, and the tools around it."};
  app.name("ipfskit");
  app.footer(
      "Environment:\n"
      "  IPFSKIT_PATH   repo directory (default $XDG_DATA_HOME/ipfskit, ~/.local/share/ipfskit)\n"
      "Run 'ipfskit COMMAND --help' for a command's options.");
  app.require_subcommand(1);
  app.add_option("--repo", ctx.global.repo, "Path to the repo (overrides IPFSKIT_PATH)");
  app.add_flag("--offline", ctx.global.offline, "Use no network source");
  app.add_flag("--json", ctx.global.json, "Print results as JSON");
  app.add_option("--gateway", ctx.global.gateways, "Trustless HTTP gateway URL (repeatable)");
  app.add_option("--kubo-api", ctx.global.kubo_api, "Kubo RPC API URL, e.g. http://127.0.0.1:5001");

  // One registration table: each file owns its commands.
  RegisterInitCommand(app, ctx);
  RegisterAddCommand(app, ctx);
  RegisterReadCommands(app, ctx);
  RegisterBlockCommands(app, ctx);
  RegisterPinCommands(app, ctx);
  RegisterDagCommands(app, ctx);
  RegisterMountCommands(app, ctx);
  RegisterCacheCommands(app, ctx);
  RegisterInferCommand(app, ctx);
  RegisterFilesCommands(app, ctx);
  RegisterHelpCommands(app, ctx);

  // mount(8) runs `ipfskit SOURCE MOUNTPOINT -o OPTS` for `mount -t fuse.ipfskit` and fstab
  // lines; turn that into `ipfskit mount MOUNTPOINT -o OPTS`.
  std::vector<std::string> args(argv, argv + argc);
  struct stat st;
  if (args.size() >= 3 && args[1][0] != '-' && !IsSubcommand(app, args[1]) &&
      ::stat(args[2].c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    args.erase(args.begin() + 1);
    args.insert(args.begin() + 1, "mount");
  }
  std::vector<char*> av;
  for (auto& a : args) av.push_back(a.data());
  try {
    app.parse(static_cast<int>(av.size()), av.data());
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc;
  }
  std::fflush(stdout);
  return ctx.exit_code;
}
