// Shared state of the `ipfskit` command line: global options, the repo (opened on first use),
// output helpers. Each cmd_*.cpp registers its subcommands through one Register* function.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/ipns/namesys.h"
#include "core/multiformats/cid.h"
#include "core/source/source_chain.h"
#include "core/reader/unixfs_reader.h"
#include "core/store/repo.h"
#include "core/util/duration.h"
#include "core/util/result.h"

namespace ipfskit::cli {

struct GlobalOptions {
  std::string repo;  // --repo, default IPFSKIT_PATH / XDG
  bool offline = false;
  bool json = false;  // --json, or Kubo's --enc=json
  std::string enc;    // --enc: "json" or "text"
  std::vector<std::string> gateways;
  std::string kubo_api;
  std::string timeout;      // --timeout, a Go duration as Kubo takes it: 500ms, 30s, 1m30s
  int64_t timeout_ms = 0;   // parsed --timeout; 0 = none
};

// Defines the global options on `app`. With app.fallthrough() (inherited by subcommands) they
// are accepted before or after the subcommand, as Kubo accepts them. The parse-complete step
// validates --enc and --timeout and arms the --timeout deadline.
void AddGlobalOptions(CLI::App& app, GlobalOptions& global);

// ParseGoDuration (Kubo's duration flags) is core/util/duration.h's.

class Context {
 public:
  GlobalOptions global;
  int exit_code = 0;

  std::string RepoPath() const { return global.repo.empty() ? DefaultRepoPath() : global.repo; }
  // Opens an existing repo. kNotFound "no ipfskit repo found in DIR; run 'ipfskit init'" when
  // there is none: only `init` creates one from the CLI (the mount also creates it on first use).
  Result<std::shared_ptr<Repo>> OpenRepo();
  // `init`: creates the repo; kExists when there already is one.
  Result<std::shared_ptr<Repo>> InitRepo();
  // Where reads come from: the repo, then the network sources unless --offline.
  Result<std::shared_ptr<BlockGetter>> Blocks();
  // The merged configuration (defaults < /etc < repo < env < these global flags). --timeout
  // becomes the overall (and a cap on the per-request) fetch timeout.
  Result<Config> LoadConfiguration() const;
  // The source chain behind Blocks(), once built (null before).
  std::shared_ptr<SourceChain> chain() const { return chain_; }
  Result<UnixfsReader*> Reader();
  // IPNS and DNSLink (repo cache, keystore, configured sources; none with --offline).
  Result<std::shared_ptr<NameSys>> Names();

  // Prints "Error: message" on stderr and sets the exit code.
  void Fail(const std::string& message, int code = 1);
  void Fail(const Error& e) { Fail(e.message); }

 private:
  std::shared_ptr<Repo> repo_;
  std::shared_ptr<BlockGetter> blocks_;
  std::shared_ptr<SourceChain> chain_;
  std::unique_ptr<UnixfsReader> reader_;
  std::shared_ptr<NameSys> names_;
};

// "CID", "CID/a/b", "/ipfs/CID/a/b" -> (root CID, "a/b").
struct IpfsPath {
  Cid root;
  std::string rest;
};
Result<IpfsPath> ParseIpfsPath(std::string_view text);
// Resolves an IPFS path to the CID it names; /ipns/<name>/… paths are resolved through Names().
Result<Cid> ResolveIpfsPath(Context& ctx, std::string_view text);

// Progress on stderr, drawn only when stderr is a terminal.
class Progress {
 public:
  Progress(std::string label, uint64_t total);
  ~Progress();
  void Update(uint64_t done);
  void Finish();

 private:
  std::string label_;
  uint64_t total_;
  bool tty_;
  bool finished_ = false;
  uint64_t last_draw_ns_ = 0;
};

void RegisterInitCommand(CLI::App& app, Context& ctx);
void RegisterAddCommand(CLI::App& app, Context& ctx);
void RegisterReadCommands(CLI::App& app, Context& ctx);   // cat, get, ls, stat
void RegisterBlockCommands(CLI::App& app, Context& ctx);  // block get|put|stat
void RegisterPinCommands(CLI::App& app, Context& ctx);    // pin, repo
void RegisterPinRemoteCommands(CLI::App* pin, Context& ctx);  // pin remote (cmd_pin_remote.cpp)
void RegisterDagCommands(CLI::App& app, Context& ctx);    // dag import|export
void RegisterMountCommands(CLI::App& app, Context& ctx);  // mount, unmount
void RegisterCacheCommands(CLI::App& app, Context& ctx);  // cache stats
void RegisterInferCommand(CLI::App& app, Context& ctx);   // infer
void RegisterFilesCommands(CLI::App& app, Context& ctx);  // files (MFS)
void RegisterKeyCommands(CLI::App& app, Context& ctx);    // key gen|list|rm|rename|export|import
void RegisterNameCommands(CLI::App& app, Context& ctx);   // name publish|resolve|inspect|get|put|republish
void RegisterServeCommand(CLI::App& app, Context& ctx);   // serve (trustless gateway)
void RegisterHelpCommands(CLI::App& app, Context& ctx);   // help-config, help-all, completion

}  // namespace ipfskit::cli
