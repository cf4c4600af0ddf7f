#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "core/source/make_source_chain.h"
#include "fuse/cli/cli.h"

namespace ipfskit::cli {

Result<std::shared_ptr<Repo>> Context::OpenRepo() {
  if (repo_) return repo_;
  RepoOptions o;
  o.path = RepoPath();
  IPFSKIT_ASSIGN_OR_RETURN(repo_, Repo::Open(o));
  return repo_;
}

Result<Config> Context::LoadConfiguration() const {
  ConfigLoadOptions o;
  o.repo_path = RepoPath();
  if (global.offline) o.overrides.offline = true;
  if (!global.gateways.empty()) o.overrides.gateways = global.gateways;
  if (!global.kubo_api.empty()) o.overrides.kubo_api = global.kubo_api;
  return LoadConfig(o);
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

Result<Cid> ResolveIpfsPath(Context& ctx, std::string_view text) {
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
