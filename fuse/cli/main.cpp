// ipfskit: the command line. Global options go before or after the command, as with Kubo's
// `ipfs` (`ipfskit --json cache stats` and `ipfskit cache stats --json` are the same).
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "fuse/cli/cli.h"

static bool IsSubcommand(CLI::App& app, const std::string& name) {
  for (const auto* sub : app.get_subcommands([](CLI::App*) { return true; }))
    if (sub->check_name(name)) return true;
  return false;
}

// mount(8) runs `ipfskit SOURCE MOUNTPOINT -o OPTS` for `mount -t fuse.ipfskit SOURCE DIR` and
// fstab lines; turn that into `ipfskit [--repo SOURCE] mount MOUNTPOINT -o OPTS`. An absolute
// SOURCE is the repo path; a repo= mount option still wins over it (the mount command prefers
// -o repo= to --repo). Any other SOURCE word ("ipfskit", "none", ...) means the default repo.
static void TranslateMountHelperForm(CLI::App& app, std::vector<std::string>& args) {
  struct stat st;
  if (args.size() < 3 || args[1].empty() || args[1][0] == '-' || IsSubcommand(app, args[1]) ||
      ::stat(args[2].c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return;
  std::string source = args[1];
  args.erase(args.begin() + 1);
  args.insert(args.begin() + 1, "mount");
  if (source[0] == '/') args.insert(args.begin() + 1, {"--repo", source});
}

// CLI11's usage errors become Kubo's shape: one line "Error: ..." and exit status 1.
static std::string OneLine(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (auto& c : s)
    if (c == '\n') c = ' ';
  return s;
}

int main(int argc, char** argv) {
  using namespace ipfskit::cli;
  Context ctx;
  CLI::App app{"ipfskit: IPFS as a FUSE filesystem, and the tools around it."};
  app.name("ipfskit");
  app.footer(
      "Environment:\n"
      "  IPFSKIT_PATH   repo directory (default $XDG_DATA_HOME/ipfskit, ~/.local/share/ipfskit)\n"
      "Global options may come before or after the command, as with Kubo.\n"
      "Run 'ipfskit COMMAND --help' for a command's options.");
  app.require_subcommand(1);
  // Inherited by every subcommand created below: options a subcommand does not know are
  // handed up to its parent, so the globals parse anywhere on the line.
  app.fallthrough();
  AddGlobalOptions(app, ctx.global);

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
  RegisterKeyCommands(app, ctx);
  RegisterNameCommands(app, ctx);
  RegisterServeCommand(app, ctx);
  RegisterHelpCommands(app, ctx);

  std::vector<std::string> args(argv, argv + argc);
  if (args.size() == 1) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  }
  TranslateMountHelperForm(app, args);
  std::vector<char*> av;
  for (auto& a : args) av.push_back(a.data());
  try {
    // Parse without running callbacks first, so that --timeout can arm its deadline.
    app.parse(static_cast<int>(av.size()), av.data());
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);  // --help
    std::fprintf(stderr, "Error: %s\n", OneLine(e.what()).c_str());
    return 1;
  }
  std::fflush(stdout);
  return ctx.exit_code;
}
