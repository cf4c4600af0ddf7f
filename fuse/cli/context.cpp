#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include "core/source/make_source_chain.h"
#include "fuse/cli/cli.h"

namespace ipfskit::cli {

// A repo is a directory with its version file (Repo::Open writes it last when creating one).
static bool RepoExists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path + "/version", ec);
}

Result<std::shared_ptr<Repo>> Context::OpenRepo() {
  if (repo_) return repo_;
  RepoOptions o;
  o.path = RepoPath();
  if (!RepoExists(o.path))
    return MakeError(Errc::kNotFound, "no ipfskit repo found in " + o.path + "; run 'ipfskit init'");
  o.create = false;
  IPFSKIT_ASSIGN_OR_RETURN(repo_, Repo::Open(o));
  return repo_;
}

Result<std::shared_ptr<Repo>> Context::InitRepo() {
  RepoOptions o;
  o.path = RepoPath();
  if (RepoExists(o.path))
    return MakeError(Errc::kExists, "ipfskit repo already exists in " + o.path + "! (reinitializing is not needed)");
  IPFSKIT_ASSIGN_OR_RETURN(repo_, Repo::Open(o));
  return repo_;
}

void AddGlobalOptions(CLI::App& app, GlobalOptions& g) {
  app.add_option("--repo", g.repo, "Path to the repo (overrides IPFSKIT_PATH)");
  app.add_flag("--offline", g.offline, "Use no network source");
  app.add_flag("--json", g.json, "Print results as JSON (same as --enc=json)");
  app.add_option("--enc,--encoding", g.enc, "Output encoding: json or text (as Kubo's --enc)");
  app.add_option("--timeout", g.timeout, "Give up after this long, a Go duration: 500ms, 30s, 1m");
  app.add_option("--gateway", g.gateways, "Trustless HTTP gateway URL (repeatable)");
  app.add_option("--kubo-api", g.kubo_api, "Kubo RPC API URL, e.g. http://127.0.0.1:5001");
  app.parse_complete_callback([&app, &g] {
    if (!g.enc.empty()) {
      if (g.enc == "json") g.json = true;
      else if (g.enc != "text") throw CLI::ValidationError("--enc", "must be json or text, not \"" + g.enc + "\"");
    }
    if (g.timeout.empty()) return;
    auto ms = ParseGoDuration(g.timeout);
    if (!ms.ok()) throw CLI::ValidationError("--timeout", ms.error().message);
    g.timeout_ms = *ms;
    if (g.timeout_ms == 0) return;
    // The whole command has this long, as with Kubo. Fetches get the same overall timeout (see
    // LoadConfiguration) so they fail with their own error first; this catches everything else.
    // Not for the mount: its daemon lives until unmounted (its timeout= option is per block).
    for (const CLI::App* sub : app.get_subcommands())
      if (sub->get_name() == "mount") return;
    std::thread([ms = g.timeout_ms] {
      std::this_thread::sleep_for(std::chrono::milliseconds(ms + 500));
      std::fflush(stdout);
      std::fprintf(stderr, "Error: context deadline exceeded (--timeout)\n");
      std::_Exit(1);
    }).detach();
  });
}

Result<Config> Context::LoadConfiguration() const {
  ConfigLoadOptions o;
  o.repo_path = RepoPath();
  if (global.offline) o.overrides.offline = true;
  if (!global.gateways.empty()) o.overrides.gateways = global.gateways;
  if (!global.kubo_api.empty()) o.overrides.kubo_api = global.kubo_api;
  IPFSKIT_ASSIGN_OR_RETURN(Config cfg, LoadConfig(o));
  if (global.timeout_ms > 0) {
    cfg.net.overall_timeout_ms = global.timeout_ms;
    cfg.net.request_timeout_ms = std::min(cfg.net.request_timeout_ms, global.timeout_ms);
    cfg.net.connect_timeout_ms = std::min(cfg.net.connect_timeout_ms, global.timeout_ms);
  }
  return cfg;
}

Result<std::shared_ptr<BlockGetter>> Context::Blocks() {
  if (blocks_) return blocks_;
  IPFSKIT_ASSIGN_OR_RETURN(auto repo, OpenRepo());
  IPFSKIT_ASSIGN_OR_RETURN(Config cfg, LoadConfiguration());
  IPFSKIT_ASSIGN_OR_RETURN(chain_, MakeSourceChain(cfg, repo));
  blocks_ = chain_;
  return blocks_;
}

Result<UnixfsReader*> Context::Reader() {
  if (!reader_) {
    IPFSKIT_ASSIGN_OR_RETURN(auto b, Blocks());
    reader_ = std::make_unique<UnixfsReader>(b);
  }
  return reader_.get();
}

void Context::Fail(const std::string& message, int code) {
  std::fprintf(stderr, "Error: %s\n", message.c_str());
  exit_code = code;
}

Result<IpfsPath> ParseIpfsPath(std::string_view text) {
  std::string_view t = text;
  if (t.substr(0, 6) == "/ipfs/") t.remove_prefix(6);
  else if (t.substr(0, 5) == "ipfs/") t.remove_prefix(5);
  while (!t.empty() && t.front() == '/') t.remove_prefix(1);
  size_t slash = t.find('/');
  std::string_view cid_text = t.substr(0, slash);
  IPFSKIT_ASSIGN_OR_RETURN(Cid c, Cid::Parse(cid_text));
  IpfsPath p{std::move(c), slash == std::string_view::npos ? std::string() : std::string(t.substr(slash + 1))};
  return p;
}

Result<std::shared_ptr<NameSys>> Context::Names() {
  if (names_) return names_;
  IPFSKIT_ASSIGN_OR_RETURN(auto repo, OpenRepo());
  IPFSKIT_ASSIGN_OR_RETURN(Config cfg, LoadConfiguration());
  IPFSKIT_ASSIGN_OR_RETURN(IpnsSettings s, IpnsSettingsFromConfig(cfg));
  if (global.timeout_ms > 0) {
    s.timeout_ms = std::min(s.timeout_ms, global.timeout_ms);
    s.dns_timeout_ms = std::min(s.dns_timeout_ms, global.timeout_ms);
  }
  IPFSKIT_ASSIGN_OR_RETURN(names_, NameSys::Open(repo, std::move(s)));
  return names_;
}

Result<Cid> ResolveIpfsPath(Context& ctx, std::string_view text) {
  if (text.substr(0, 6) == "/ipns/" || text.substr(0, 7) == "ipns://") {
    IPFSKIT_ASSIGN_OR_RETURN(auto names, ctx.Names());
    IPFSKIT_ASSIGN_OR_RETURN(IpnsResolution r, names->Resolve(text));
    return ResolveIpfsPath(ctx, r.path);
  }
  IPFSKIT_ASSIGN_OR_RETURN(IpfsPath p, ParseIpfsPath(text));
  if (p.rest.empty()) return p.root;
  IPFSKIT_ASSIGN_OR_RETURN(UnixfsReader * r, ctx.Reader());
  auto c = r->Resolve(p.root, p.rest);
  if (!c.ok()) return MakeError(c.error().code, std::string(text) + ": " + c.error().message);
  return c;
}

static uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

Progress::Progress(std::string label, uint64_t total)
    : label_(std::move(label)), total_(total), tty_(isatty(STDERR_FILENO)) {}

Progress::~Progress() { Finish(); }

static std::string Human(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) b /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f %s", b, units[u]);
  return buf;
}

void Progress::Update(uint64_t done) {
  if (!tty_) return;
  uint64_t now = NowNs();
  if (now - last_draw_ns_ < 100000000ull && done != total_) return;
  last_draw_ns_ = now;
  winsize ws{};
  int cols = ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col ? ws.ws_col : 80;
  std::string head = label_ + " " + Human(done) + (total_ ? " / " + Human(total_) : "");
  std::string bar;
  if (total_) {
    int width = std::max(10, cols - static_cast<int>(head.size()) - 10);
    int filled = static_cast<int>(width * std::min<double>(1.0, double(done) / total_));
    bar = " [" + std::string(filled, '=') + std::string(width - filled, ' ') + "] " +
          std::to_string(static_cast<int>(100.0 * done / total_)) + "%";
  }
  std::fprintf(stderr, "\r%s%s", head.c_str(), bar.c_str());
  std::fflush(stderr);
}

void Progress::Finish() {
  if (tty_ && !finished_ && last_draw_ns_) std::fprintf(stderr, "\n");
  finished_ = true;
}

}  // namespace ipfskit::cli
