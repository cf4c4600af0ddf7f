#include "fuse/mount.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <thread>

#include "accel/backends.h"
#include "core/config/config.h"
#include "core/infer/remote_embeddings.h"
#include "core/infer/unixfs_model_files.h"
#include "core/reader/unixfs_reader.h"
#include "core/serve/gateway_handler.h"
#include "core/serve/http_server.h"
#include "core/source/make_source_chain.h"
#include "core/store/repo.h"
#include "core/util/log.h"
#include "fuse/areas/infer_area.h"
#include "fuse/areas/ipfs_area.h"
#include "fuse/areas/ipns_area.h"
#include "fuse/areas/mfs_area.h"
#include "fuse/areas/static_nodes.h"
#include "fuse/ops.h"

// LeakSanitizer runs its check from atexit, which the daemon's _exit skips.
#if defined(__SANITIZE_ADDRESS__)
#define IPFSKIT_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define IPFSKIT_LSAN 1
#endif
#endif
#ifdef IPFSKIT_LSAN
#include <sanitizer/lsan_interface.h>
#endif

extern char** environ;

namespace ipfskit::fs {

namespace {

using SteadyClock = std::chrono::steady_clock;

bool IsGenericMountOption(std::string_view o) {
  static const char* kGeneric[] = {"rw", "dev", "nodev", "suid", "nosuid", "exec", "noexec", "auto", "noauto",
                                   "user", "nouser", "users", "async", "sync", "atime", "noatime", "relatime",
                                   "defaults", "nofail", "_netdev", "diratime", "nodiratime", "owner", "group"};
  for (const char* g : kGeneric)
    if (o == g) return true;
  return o.substr(0, 2) == "x-" || o.substr(0, 8) == "comment=";
}

bool StaleMount(const std::string& mp) {
  // A killed daemon leaves an endpoint that fails with ECONNABORTED, later ENOTCONN. stat alone
  // can miss it (the kernel still holds the root's attributes); statfs is never cached.
  auto dead = [] { return errno == ENOTCONN || errno == ECONNABORTED; };
  struct stat st;
  if (::stat(mp.c_str(), &st) != 0) return dead();
  struct statfs sf;
  return ::statfs(mp.c_str(), &sf) != 0 && dead();
}

// Runs argv[0] from PATH with exactly these arguments (no shell, so any byte in a path is
// safe), killing it after `timeout`. Its exit status, or -1 when it did not run or finish.
int RunProgram(const std::vector<std::string>& args, std::chrono::milliseconds timeout, bool quiet) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  if (quiet) {
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  }
  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  const auto deadline = SteadyClock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (r < 0 && errno != EINTR) return -1;
    if (SteadyClock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

constexpr std::chrono::seconds kFusermountTimeout{30};

Status DetachStale(const std::string& mp) {
  if (::umount2(mp.c_str(), MNT_DETACH) == 0) return Status::Ok();
  if (RunProgram({"fusermount3", "-u", "-z", "--", mp}, kFusermountTimeout, /*quiet=*/true) == 0)
    return Status::Ok();
  return MakeError(Errc::kIo, mp + ": stale mount (transport endpoint not connected) could not be detached");
}

// The kernel caps readahead at the device's read_ahead_kb (128 KiB by default for FUSE);
// as root, raise it to match our 1 MiB requests. Best effort, once the mount answers.
void RaiseReadahead(dev_t dev) {
  std::string path = "/sys/class/bdi/" + std::to_string(major(dev)) + ":" + std::to_string(minor(dev)) +
                     "/read_ahead_kb";
  std::ofstream f(path);
  if (f) f << 1024;
}

// The daemon child's one message to the parent waiting in RunMount: "OK\n", or
// "ERR <errc> <message>\n" for the error that stopped startup. Sent at most once (the first
// call wins: the readiness thread and a failing main thread may race), then the write end is
// closed so the parent also sees EOF. fd -1 (foreground): nothing is sent.
class StartupReport {
 public:
  explicit StartupReport(int fd) : fd_(fd) {}
  ~StartupReport() { Close(); }
  StartupReport(const StartupReport&) = delete;
  StartupReport& operator=(const StartupReport&) = delete;

  void Ready() { Send("OK\n"); }
  void Failed(const Error& e) {
    std::string msg = e.message;
    for (char& c : msg)
      if (c == '\n') c = ' ';
    Send("ERR " + std::to_string(static_cast<int>(e.code)) + " " + msg + "\n");
  }
  bool sent() {
    std::lock_guard lock(mu_);
    return sent_;
  }

 private:
  void Send(const std::string& line) {
    std::lock_guard lock(mu_);
    if (sent_) return;
    sent_ = true;
    if (fd_ < 0) return;
    for (size_t off = 0; off < line.size();) {
      ssize_t n = ::write(fd_, line.data() + off, line.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    ::close(fd_);
    fd_ = -1;
  }
  void Close() {
    std::lock_guard lock(mu_);
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  std::mutex mu_;
  int fd_;
  bool sent_ = false;
};

// Parent side: waits for the child's report, at most `timeout`.
Status WaitForDaemon(pid_t pid, int fd, std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  std::string buf;
  bool eof = false;
  while (buf.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000)));
    if (r < 0 && errno != EINTR) break;
    if (r <= 0) continue;
    char tmp[4096];
    ssize_t n = ::read(fd, tmp, sizeof tmp);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      eof = true;
      break;
    }
    buf.append(tmp, static_cast<size_t>(n));
  }
  ::close(fd);
  // The child exits right after a failure report; reap it, but never wait long.
  auto reap = [pid](std::chrono::milliseconds limit) -> std::optional<int> {
    const auto until = SteadyClock::now() + limit;
    for (;;) {
      int status = 0;
      pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) return status;
      if ((r < 0 && errno != EINTR) || SteadyClock::now() >= until) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  };
  if (buf.rfind("OK\n", 0) == 0) return Status::Ok();
  if (buf.rfind("ERR ", 0) == 0) {
    reap(std::chrono::seconds(5));
    std::string rest = buf.substr(4, buf.find('\n') - 4);
    size_t sp = rest.find(' ');
    int code = std::atoi(rest.substr(0, sp).c_str());
    std::string msg = sp == std::string::npos ? rest : rest.substr(sp + 1);
    if (code < 0 || code > static_cast<int>(Errc::kInternal)) code = static_cast<int>(Errc::kInternal);
    return MakeError(static_cast<Errc>(code), msg);
  }
  if (eof) {
    auto status = reap(std::chrono::seconds(5));
    std::string how = !status ? "" :
                      WIFSIGNALED(*status) ? " (killed by signal " + std::to_string(WTERMSIG(*status)) + ")" :
                      WIFEXITED(*status) ? " (exit status " + std::to_string(WEXITSTATUS(*status)) + ")" : "";
    return MakeError(Errc::kInternal, "the mount daemon exited during startup" + how);
  }
  ::kill(pid, SIGTERM);
  return MakeError(Errc::kTimeout, "the mount did not come up within " +
                                       std::to_string(timeout.count() / 1000) +
                                       " s; stopped it (its log: syslog, or -o log=FILE)");
}

Result<uint32_t> ParseNumber(const std::string& key, const std::string& val, int base, uint32_t max) {
  char* end = nullptr;
  errno = 0;
  unsigned long v = val.empty() ? 0 : std::strtoul(val.c_str(), &end, base);
  if (val.empty() || errno != 0 || *end != '\0' || v > max || val[0] == '-')
    return MakeError(Errc::kInvalidArgument, "bad " + key + " '" + val + "'");
  return static_cast<uint32_t>(v);
}

// What RunMount settles before it forks: nothing here opens LMDB or starts a thread.
struct Prepared {
  std::string mountpoint;  // absolute, resolved
  dev_t dev_before = 0;    // st_dev of the mountpoint before mounting: readiness is a change
  std::string repo;        // absolute: the daemon runs in /
  log::LogOptions log;
};

Result<Prepared> Prepare(const MountOptions& o) {
  Prepared p;
  if (StaleMount(o.mountpoint)) {
    spdlog::warn("{} is a stale mount; detaching it first", o.mountpoint);
    IPFSKIT_TRY_STATUS(DetachStale(o.mountpoint));
  }
  char real[PATH_MAX];
  if (!::realpath(o.mountpoint.c_str(), real))
    return MakeError(Errc::kNotFound, "mount point " + o.mountpoint + ": " + std::strerror(errno));
  p.mountpoint = real;
  struct stat mst;
  if (::stat(p.mountpoint.c_str(), &mst) != 0 || !S_ISDIR(mst.st_mode))
    return MakeError(Errc::kNotDir, p.mountpoint + ": mount point is not a directory");
  p.dev_before = mst.st_dev;
  std::error_code ec;
  p.repo = std::filesystem::absolute(o.repo.empty() ? DefaultRepoPath() : o.repo, ec).string();
  if (ec) return MakeError(Errc::kIo, "repo path " + o.repo + ": " + ec.message());
  p.log.level = o.log_debug ? spdlog::level::debug : spdlog::level::info;
  if (!o.log_level.empty()) {
    IPFSKIT_ASSIGN_OR_RETURN(p.log.level, log::ParseLevel(o.log_level));
  }
  if (!o.log_file.empty()) {
    p.log.target = log::Target::kFile;
    p.log.file = std::filesystem::absolute(o.log_file, ec).string();
    if (ec) return MakeError(Errc::kIo, "log file " + o.log_file + ": " + ec.message());
  } else {
    p.log.target = o.foreground || o.debug ? log::Target::kStderr : log::Target::kSyslog;
  }
  return p;
}

// Points stdin, stdout and stderr at /dev/null (the daemon, once the parent has gone).
void DetachStdio() {
  int fd = ::open("/dev/null", O_RDWR);
  if (fd < 0) return;
  ::dup2(fd, STDIN_FILENO);
  ::dup2(fd, STDOUT_FILENO);
  ::dup2(fd, STDERR_FILENO);
  if (fd > STDERR_FILENO) ::close(fd);
}

// Blocks SIGINT/SIGTERM/SIGHUP in this thread while it lives, so that the threads started
// meanwhile (MFS commits, inference, readiness) inherit the block and libfuse's handler runs
// on the loop's threads, which it can wake. A signal sent meanwhile waits, then ends the loop.
class BlockStopSignals {
 public:
  BlockStopSignals() {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, sig);
    pthread_sigmask(SIG_BLOCK, &set, &old_);
  }
  ~BlockStopSignals() { Release(); }
  void Release() {
    if (released_) return;
    released_ = true;
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t old_;
  bool released_ = false;
};

// Sets up everything and serves until the mount ends. Reports readiness or the startup error
// through `report`; returns the error that ended the mount, if any.
Status Serve(const MountOptions& o, const Prepared& p, StartupReport& report, bool daemon) {
  IPFSKIT_TRY_STATUS(log::InitLogging(p.log));
  const std::string& mp = p.mountpoint;
  spdlog::info("ipfskit {} starting: mount {} of repo {}", IPFSKIT_VERSION, mp, p.repo);
  spdlog::debug("options: ro={} offline={} allow_other={} default_permissions={} uid={} gid={} umask={:03o} "
                "threads={} log={}",
                o.read_only, o.offline, o.allow_other, o.default_permissions || o.allow_other,
                o.uid ? std::to_string(*o.uid) : "-", o.gid ? std::to_string(*o.gid) : "-", o.umask, o.max_threads,
                p.log.file.empty() ? (daemon ? "syslog" : "stderr") : p.log.file);

  RepoOptions ro;
  ro.path = p.repo;
  std::vector<std::string> args = {"ipfskit", "-o", "fsname=ipfskit,subtype=ipfskit"};
  // Without default_permissions ipfskit checks no mode bits itself: with allow_other that
  // would let every local user write /mfs, so allow_other turns the kernel's checks on.
  if (o.default_permissions || o.allow_other) args.insert(args.end(), {"-o", "default_permissions"});
  if (o.allow_other) args.insert(args.end(), {"-o", "allow_other"});
  if (o.read_only) args.insert(args.end(), {"-o", "ro"});
  for (const auto& f : o.fuse_options) args.insert(args.end(), {"-o", f});
  if (o.debug) args.push_back("-d");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());

  MfsOptions mfs_opts;
  if (!o.mfs_profile.empty()) IPFSKIT_TRY_STATUS(ApplyMfsProfile(o.mfs_profile, mfs_opts));
  mfs_opts.store_mode = o.mfs_store_mode;
  mfs_opts.store_mtime = o.mfs_store_mtime;
  mfs_opts.read_only = o.read_only;
  // UnixFS stores no owner: the tree's content belongs to the mount's -o uid/gid.
  mfs_opts.uid = o.uid.value_or(::getuid());
  mfs_opts.gid = o.gid.value_or(::getgid());

  auto state = std::make_unique<MountState>();
  state->read_only = o.read_only;
  state->statfs_path = ro.path;
  fuse_lowlevel_ops ops;
  AssignOperations(ops);
  // The session first: it validates the -o options before anything slow is opened.
  fuse_session* se = fuse_session_new(&fargs, &ops, sizeof ops, state.get());
  // fuse_session_new parsed the arguments into copies it allocated in fargs; the session
  // keeps its own copies of what it needs.
  fuse_opt_free_args(&fargs);
  if (!se) return MakeError(Errc::kInvalidArgument, "could not create the FUSE session (bad -o option?)");
  struct SessionGuard {
    fuse_session* se;
    bool mounted = false, handlers = false;
    ~SessionGuard() { Destroy(); }
    void Destroy() {
      if (!se) return;
      if (mounted) fuse_session_unmount(se);
      if (handlers) fuse_remove_signal_handlers(se);
      fuse_session_destroy(se);
      se = nullptr;
    }
  } guard{se};
  BlockStopSignals blocked;

  auto repo = Repo::Open(ro);
  if (!repo.ok()) return repo.error();
  ConfigLoadOptions co;
  co.repo_path = ro.path;
  if (o.offline) co.overrides.offline = true;
  if (!o.gateways.empty()) co.overrides.gateways = o.gateways;
  if (!o.kubo_api.empty()) co.overrides.kubo_api = o.kubo_api;
  auto cfg = LoadConfig(co);
  if (!cfg.ok()) return cfg.error();
  if (o.fetch_timeout_s > 0) cfg->net.overall_timeout_ms = static_cast<int64_t>(o.fetch_timeout_s * 1000);
  auto chain = MakeSourceChain(*cfg, *repo);
  if (!chain.ok()) return chain.error();
  Owner owner{o.uid.value_or(::getuid()), o.gid.value_or(::getgid()), o.umask, o.uid.has_value(), o.gid.has_value()};
  auto ictx = std::make_shared<IpfsContext>();
  ictx->repo = *repo;
  ictx->reader = std::make_shared<UnixfsReader>(*chain);
  ictx->stats = &state->stats;
  ictx->owner = owner;
  ictx->stream_window = static_cast<uint64_t>(cfg->net.car_stream_window_bytes);
  ictx->tree_stream_max = static_cast<uint64_t>(cfg->net.car_tree_max_bytes);

  auto root = std::make_shared<StaticDir>(ino::kRoot, owner, 0555);
  auto ipfs = std::make_shared<IpfsRootNode>(ictx);
  auto ipns_settings = IpnsSettingsFromConfig(*cfg);
  if (!ipns_settings.ok()) return ipns_settings.error();
  auto namesys = NameSys::Open(*repo, *ipns_settings);
  if (!namesys.ok()) return namesys.error();
  IpnsArea::Options io;
  io.ns = *namesys;
  io.ipfs = ictx;
  io.repo = *repo;
  io.fallback = *chain;
  io.mfs = mfs_opts;
  io.owner = owner;
  io.read_only = o.read_only;
  auto ipns_area = IpnsArea::Make(io);
  auto ipns = ipns_area->Root();
  state->stats.AddSection("ipns", [ns = *namesys] { return ns->Stats().ToJson(); });
  auto mfs_tree = MfsTree::Open(*repo, mfs_opts, *chain);  // chain: content linked from /ipfs
  if (!mfs_tree.ok()) return mfs_tree.error();
  (*mfs_tree)->StartBackground(std::chrono::seconds(1));
  auto mfs = MakeMfsRoot(std::make_shared<MfsAreaContext>(MfsAreaContext{*mfs_tree, owner}));
  state->stats.AddSection("mfs", [t = *mfs_tree] {
    MfsStats s = t->Stats();
    return nlohmann::json{{"root", s.root.ToString()}, {"dirty", s.dirty}, {"commits", s.commits},
                          {"pending_bytes", s.pending_bytes}, {"dirty_bytes", s.dirty_bytes},
                          {"reloads", s.reloads}, {"last_error", s.last_error}};
  });
  auto infer_ctx = std::make_shared<InferContext>();
  {
    // Model aliases, limits and remotes from the config's "infer" section.
    auto is = infer::InferSettingsFromConfig(cfg->raw);
    if (!is.ok()) return is.error();
    infer_ctx->aliases = is->aliases;
    auto local = std::make_shared<infer::LocalEmbeddings>(std::make_shared<infer::InferenceEngine>(
        accel::MakeDefaultBackend(), infer::MakeUnixfsModelLoader(ictx->reader, is->aliases), is->limits));
    if (is->remote.empty())
      infer_ctx->service = local;
    else
      infer_ctx->service = std::make_shared<infer::RemoteEmbeddings>(infer::RemoteOptionsFromSettings(*is), local);
    infer_ctx->writer = std::make_shared<ResultWriter>(*repo);
    infer_ctx->owner = owner;
  }
  auto infer = std::make_shared<InferRootNode>(infer_ctx);
  state->stats.AddSection("infer", [s = infer_ctx->service] { return s->StatsJson(); });
  auto control = std::make_shared<StaticDir>(ino::kControl, owner);
  MountState* sp = state.get();
  control->Add("stats", std::make_shared<GeneratedFile>(ino::kStats, owner, [sp, mp] {
                 nlohmann::json j = sp->stats.Snapshot();
                 j["inodes"] = sp->inodes.size();
                 j["mountpoint"] = mp;
                 return j.dump(2) + "\n";
               }));
  control->Add("version", std::make_shared<GeneratedFile>(ino::kVersion, owner, [] {
                 return std::string("ipfskit ") + IPFSKIT_VERSION + "\n";
               }));
  root->Add("ipfs", ipfs);
  root->Add("ipns", ipns);
  root->Add("mfs", mfs);
  root->Add("infer", infer);
  root->Add(".ipfskit", control);
  state->root = root;
  for (std::shared_ptr<Node> n : std::initializer_list<std::shared_ptr<Node>>{ipfs, ipns, mfs, infer, control})
    state->inodes.Pin(n);
  if (auto items = control->List(); items.ok())
    for (const auto& item : *items) state->inodes.Pin(item.node);
  state->stats.AddSection("repo", [repo = *repo] {
    auto s = repo->Stat();
    if (!s.ok()) return nlohmann::json{{"error", s.error().message}};
    return nlohmann::json{{"blocks", s->num_blocks}, {"bytes", s->blocks_bytes}, {"pins", s->num_pins}};
  });

  state->stats.AddSection("sources", [chain = *chain] { return ToJson(chain->Stats()); });
  state->stats.AddSection("reader", [reader = ictx->reader] {
    DecodedNodeCache& d = reader->decoded_cache();
    return nlohmann::json{{"decoded_nodes", {{"entries", d.entries()},
                                             {"bytes", d.bytes()},
                                             {"hits", d.hits()},
                                             {"misses", d.misses()}}}};
  });

  // Own names: trees opened, unpublished roots published (never fatal: the mount starts).
  ipns_area->Start();
  struct IpnsCloser {
    std::shared_ptr<IpnsArea> area;
    std::shared_ptr<NameSys> ns;
    ~IpnsCloser() {
      area->Close();
      ns->Shutdown();
    }
  } ipns_closer{ipns_area, *namesys};

  // -o serve: the gateway over this mount's chain and names. Started before the FUSE mount so a
  // bad address fails the start; stopped (its streams cut) before the names shut down.
  std::unique_ptr<GatewayHandler> gateway;
  std::unique_ptr<HttpServer> server;
  if (!o.serve.empty()) {
    IPFSKIT_ASSIGN_OR_RETURN(auto addr, ParseListenAddress(o.serve));
    if (!IsLoopbackHost(addr.first) && !o.serve_remote)
      return MakeError(Errc::kInvalidArgument, "serve=" + o.serve +
                                                   " is not a loopback address; add -o serve_remote to serve it anyway");
    gateway = std::make_unique<GatewayHandler>(*chain, *namesys);
    HttpServerOptions so;
    so.host = addr.first;
    so.port = addr.second;
    server = std::make_unique<HttpServer>(so, gateway->AsHandler());
    IPFSKIT_TRY_STATUS(server->Start());
    spdlog::info("gateway server listening on http://{}", server->address());
    state->stats.AddSection("serve", [s = server.get()] {
      HttpServerStats st = s->Stats();
      return nlohmann::json{{"address", s->address()},        {"connections", st.connections},
                            {"open_connections", st.open_connections}, {"requests", st.requests},
                            {"header_timeouts", st.header_timeouts}, {"stream_errors", st.stream_errors}};
    });
  }
  struct ServerStopper {
    std::unique_ptr<HttpServer>& s;
    ~ServerStopper() {
      if (s) s->Stop();
    }
  } server_stopper{server};

  if (fuse_set_signal_handlers(se) != 0) return MakeError(Errc::kInternal, "could not install signal handlers");
  guard.handlers = true;
  if (fuse_session_mount(se, mp.c_str()) != 0)
    return MakeError(Errc::kIo, "mounting " + mp + " failed (is /dev/fuse available, and fusermount3 installed?)");
  guard.mounted = true;
  // A refresh that finds a new value drops the kernel's entry, so the next open resolves again.
  ipns_area->SetInvalidator([se](const std::string& name) {
    fuse_lowlevel_notify_inval_entry(se, ino::kIpns, name.c_str(), name.size());
  });

  // Ready once the kernel has a root from us: a stat through the mount (INIT, then GETATTR,
  // both served by the loop below) shows another device than the bare directory did.
  std::atomic<bool> loop_done{false};
  std::thread readiness([&] {
    struct stat st;
    while (!loop_done.load()) {
      if (::stat(mp.c_str(), &st) == 0 && st.st_dev != p.dev_before) {
        spdlog::info("mounted {}", mp);  // before Ready: the caller may read the log at once
        report.Ready();
        sd_notify(0, "READY=1");
        if (daemon) DetachStdio();
        if (::geteuid() == 0) RaiseReadahead(st.st_dev);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  blocked.Release();

  fuse_loop_config* loop_cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_clone_fd(loop_cfg, 1);
  fuse_loop_cfg_set_max_threads(loop_cfg, o.max_threads);
  fuse_loop_cfg_set_idle_threads(loop_cfg, 8);
  int rc = fuse_session_loop_mt(se, loop_cfg);
  fuse_loop_cfg_destroy(loop_cfg);
  loop_done = true;
  sd_notify(0, "STOPPING=1");
  spdlog::info("unmounting {}", mp);
  // Files the kernel never released (see OpenHandles): an /mfs file's Release still hands its
  // data to the tree, before the final commit.
  for (auto& f : state->files.TakeAll())
    if (Status st = f->Release(); !st.ok()) spdlog::error("releasing a file left open: {}", st.error().message);
  state->dirs.TakeAll();
  if (Status st = (*mfs_tree)->Close(); !st.ok()) spdlog::error("/mfs: final commit failed: {}", st.error().message);
  if (server) server->Stop();
  ipns_area->Close();  // commits and publishes the own names' trees; no invalidation after this
  // Closing the session's /dev/fuse fd aborts the connection, so a readiness stat still
  // waiting (a loop that ended before it served INIT) returns instead of blocking the join.
  guard.Destroy();
  readiness.join();
  if (rc != 0 && rc != SIGINT && rc != SIGTERM && rc != SIGHUP)
    return MakeError(Errc::kIo, "FUSE loop ended with error " + std::to_string(rc));
  if (!report.sent()) return MakeError(Errc::kIo, "the mount ended before it answered");
  return Status::Ok();
}

}  // namespace

Status ParseMountOptions(const std::string& opts, MountOptions& o) {
  size_t pos = 0;
  while (pos <= opts.size()) {
    size_t end = opts.find(',', pos);
    if (end == std::string::npos) end = opts.size();
    std::string opt = opts.substr(pos, end - pos);
    pos = end + 1;
    if (opt.empty()) {
      if (end == opts.size()) break;
      continue;
    }
    auto eq = opt.find('=');
    std::string key = opt.substr(0, eq), val = eq == std::string::npos ? "" : opt.substr(eq + 1);
    if (key == "repo") o.repo = val;
    else if (key == "allow_other") o.allow_other = true;
    else if (key == "default_permissions") o.default_permissions = true;
    else if (key == "ro") o.read_only = true;
    else if (key == "offline") o.offline = true;
    else if (key == "gateway") o.gateways.push_back(val);
    else if (key == "kubo_api") o.kubo_api = val;
    else if (key == "serve") {
      IPFSKIT_TRY_STATUS(ParseListenAddress(val));
      o.serve = val;
    } else if (key == "serve_remote") o.serve_remote = true;
    else if (key == "timeout") {
      try {
        o.fetch_timeout_s = std::stod(val);
      } catch (...) {
        return MakeError(Errc::kInvalidArgument, "bad timeout '" + val + "'");
      }
    } else if (key == "uid") {
      IPFSKIT_ASSIGN_OR_RETURN(uint32_t v, ParseNumber(key, val, 10, UINT32_MAX - 1));
      o.uid = v;
    } else if (key == "gid") {
      IPFSKIT_ASSIGN_OR_RETURN(uint32_t v, ParseNumber(key, val, 10, UINT32_MAX - 1));
      o.gid = v;
    } else if (key == "umask") {
      IPFSKIT_ASSIGN_OR_RETURN(uint32_t v, ParseNumber(key, val, 8, 0777));
      o.umask = v;
    } else if (key == "debug") o.log_debug = true;  // log level; -d is libfuse's request trace
    else if (key == "log") {
      if (val.empty()) return MakeError(Errc::kInvalidArgument, "log= needs a file name");
      o.log_file = val;
    } else if (key == "log_level") {
      IPFSKIT_TRY_STATUS(log::ParseLevel(val));
      o.log_level = val;
    } else if (key == "mfs_profile") o.mfs_profile = val;
    else if (key == "mfs_store_mode") o.mfs_store_mode = true;
    else if (key == "mfs_store_mtime") o.mfs_store_mtime = true;
    else if (IsGenericMountOption(opt)) continue;
    else o.fuse_options.push_back(opt);
    if (end == opts.size()) break;
  }
  return Status::Ok();
}

Status RunMount(const MountOptions& o) {
  // Until Serve picks the real target, notices (a stale mount) go to the terminal.
  (void)log::InitLogging({});
  IPFSKIT_ASSIGN_OR_RETURN(Prepared p, Prepare(o));
  const bool foreground = o.foreground || o.debug;
  if (foreground) {
    StartupReport report(-1);
    return Serve(o, p, report, /*daemon=*/false);
  }

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return MakeError(Errc::kInternal, std::string("pipe: ") + std::strerror(errno));
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return MakeError(Errc::kInternal, std::string("fork: ") + std::strerror(errno));
  }
  if (pid > 0) {
    ::close(fds[1]);
    return WaitForDaemon(pid, fds[0], std::chrono::milliseconds(static_cast<int64_t>(o.startup_timeout_s * 1000)));
  }

  // The daemon: its own session, out of the caller's directory. stdout/stderr stay the
  // terminal's until ready, so libfuse's own complaints still reach the user.
  ::close(fds[0]);
  ::setsid();
  if (::chdir("/") != 0) std::perror("ipfskit: chdir /");
  int null_in = ::open("/dev/null", O_RDONLY);
  if (null_in >= 0) {
    ::dup2(null_in, STDIN_FILENO);
    if (null_in > STDIN_FILENO) ::close(null_in);
  }
  int code = 0;
  {
    StartupReport report(fds[1]);
    Status st = Serve(o, p, report, /*daemon=*/true);
    if (!st.ok()) {
      if (report.sent()) spdlog::error("{}", st.error().message);  // after startup: only the log sees it
      else {
        if (p.log.target != log::Target::kStderr) spdlog::error("startup failed: {}", st.error().message);
        report.Failed(st.error());
      }
      code = 1;
    }
  }
  log::FlushLog();
#ifdef IPFSKIT_LSAN
  // In a sanitizer build, the leak check atexit would have run (reported through
  // ASAN_OPTIONS=log_path, since stderr is /dev/null by now).
  __lsan_do_leak_check();
#endif
  ::_exit(code);
}

Status Unmount(const std::string& mountpoint, bool lazy) {
  (void)log::InitLogging({});
  if (::geteuid() == 0) {
    if (::umount2(mountpoint.c_str(), lazy ? MNT_DETACH : 0) == 0) return Status::Ok();
    if (errno == EBUSY && !lazy) {
      spdlog::warn("{} is busy; detaching it (it goes away when the last file closes)", mountpoint);
      if (::umount2(mountpoint.c_str(), MNT_DETACH) == 0) return Status::Ok();
    }
    return MakeError(Errc::kIo, mountpoint + ": " + std::strerror(errno));
  }
  std::vector<std::string> args = {"fusermount3", "-u"};
  if (lazy) args.push_back("-z");
  args.insert(args.end(), {"--", mountpoint});
  if (RunProgram(args, kFusermountTimeout, /*quiet=*/false) == 0) return Status::Ok();
  if (!lazy) return Unmount(mountpoint, true);
  return MakeError(Errc::kIo, "fusermount3 could not unmount " + mountpoint);
}

}  // namespace ipfskit::fs
