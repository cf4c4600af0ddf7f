// ipfskit: the command line. Global options come before the command, as with Kubo's `ipfs`.
#include <cstdio>

#include "fuse/cli/cli.h"

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
  // RegisterDagCommands(app, ctx);
  // RegisterMountCommands(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc;
  }
  std::fflush(stdout);
  return ctx.exit_code;
}
