#include "fuse/mount.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <csignal>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#include "core/config/config.h"
#include "core/reader/unixfs_reader.h"
#include "core/source/make_source_chain.h"
#include "core/store/repo.h"
#include "fuse/areas/ipfs_area.h"
#include "fuse/areas/mfs_area.h"
#include "fuse/areas/infer_area.h"
#include "accel/backends.h"
#include "core/infer/unixfs_model_files.h"
#include "fuse/areas/static_nodes.h"
#include "fuse/ops.h"

namespace ipfskit::fs {

namespace {

bool IsGenericMountOption(std::string_view o) {
  static const char* kGeneric[] = {"rw", "dev", "nodev", "suid", "nosuid", "exec", "noexec", "auto", "noauto",
                                   "user", "nouser", "users", "async", "sync", "atime", "noatime", "relatime",
                                   "defaults", "nofail", "_netdev", "diratime", "nodiratime", "owner", "group"};
  for (const char* g : kGeneric)
    if (o == g) return true;
  return o.substr(0, 2) == "x-" || o.substr(0, 8) == "comment=";
}

bool StaleMount(const std::string& mp) {
  struct stat st;
  // A killed daemon leaves an endpoint that fails with ECONNABORTED, later ENOTCONN.
  return ::stat(mp.c_str(), &st) != 0 && (errno == ENOTCONN || errno == ECONNABORTED);
}

Status DetachStale(const std::string& mp) {
  if (::umount2(mp.c_str(), MNT_DETACH) == 0) return Status::Ok();
  std::string cmd = "fusermount3 -u -z '" + mp + "' 2>/dev/null";
  if (std::system(cmd.c_str()) == 0) return Status::Ok();
  return MakeError(Errc::kIo, mp + ": stale mount (transport endpoint not connected) could not be detached");
}

// The kernel caps readahead at the device's read_ahead_kb (128 KiB by default for FUSE);
// as root, raise it to match our 1 MiB requests. Best effort, after the loop is serving.
void RaiseReadahead(std::string mp) {
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  struct stat st;
  if (::stat(mp.c_str(), &st) != 0) return;
  std::string path = "/sys/class/bdi/" + std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev)) +
                     "/read_ahead_kb";
  std::ofstream f(path);
  if (f) f << 1024;
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
    else if (key == "ro") o.read_only = true;
    else if (key == "offline") o.offline = true;
    else if (key == "gateway") o.gateways.push_back(val);
    else if (key == "kubo_api") o.kubo_api = val;
    else if (key == "timeout") {
      try {
        o.fetch_timeout_s = std::stod(val);
      } catch (...) {
        return MakeError(Errc::kInvalidArgument, "bad timeout '" + val + "'");
      }
    } else if (key == "debug") o.debug = true;
    else if (key == "mfs_profile") o.mfs_profile = val;
    else if (key == "mfs_store_mode") o.mfs_store_mode = true;
    else if (key == "mfs_store_mtime") o.mfs_store_mtime = true;
    else if (IsGenericMountOption(opt)) continue;
    else o.fuse_options.push_back(opt);
    if (end == opts.size()) break;
  }
  return Status::Ok();
}

Status RunMount(const MountOptions& o) {
  char real[PATH_MAX];
  if (StaleMount(o.mountpoint)) {
    std::fprintf(stderr, "ipfskit: %s is a stale mount; detaching it first\n", o.mountpoint.c_str());
    IPFSKIT_TRY_STATUS(DetachStale(o.mountpoint));
  }
  if (!::realpath(o.mountpoint.c_str(), real))
    return MakeError(Errc::kNotFound, o.mountpoint + ": " + std::strerror(errno));
  std::string mp = real;
  struct stat mst;
  if (::stat(mp.c_str(), &mst) != 0 || !S_ISDIR(mst.st_mode))
    return MakeError(Errc::kNotDir, mp + ": mount point is not a directory");

  RepoOptions ro;
  ro.path = o.repo.empty() ? DefaultRepoPath() : o.repo;
  {
    // Check the repo now, while errors still reach the terminal; LMDB must not cross fork.
    auto repo = Repo::Open(ro);
    if (!repo.ok()) return repo.error();
  }

  std::vector<std::string> args = {"ipfskit", "-o", "fsname=ipfskit,subtype=ipfskit,default_permissions"};
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

  auto state = std::make_unique<MountState>();
  state->read_only = o.read_only;
  state->statfs_path = ro.path;
  fuse_lowlevel_ops ops;
  AssignOperations(ops);
  fuse_session* se = fuse_session_new(&fargs, &ops, sizeof ops, state.get());
  if (!se) return MakeError(Errc::kInvalidArgument, "could not create the FUSE session (bad -o option?)");
  if (fuse_set_signal_handlers(se) != 0) {
    fuse_session_destroy(se);
    return MakeError(Errc::kInternal, "could not install signal handlers");
  }
  if (fuse_session_mount(se, mp.c_str()) != 0) {
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    return MakeError(Errc::kIo, "mounting " + mp + " failed (is /dev/fuse available, and fusermount3 installed?)");
  }
  fuse_daemonize(o.foreground || o.debug);

  // Everything with threads or LMDB handles is created after fuse_daemonize's fork.
  auto fail_mounted = [&](const Error& e) {
    fuse_session_unmount(se);
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    return Status(e);
  };
  auto repo = Repo::Open(ro);
  if (!repo.ok()) return fail_mounted(repo.error());
  ConfigLoadOptions co;
  co.repo_path = ro.path;
  if (o.offline) co.overrides.offline = true;
  if (!o.gateways.empty()) co.overrides.gateways = o.gateways;
  if (!o.kubo_api.empty()) co.overrides.kubo_api = o.kubo_api;
  auto cfg = LoadConfig(co);
  if (!cfg.ok()) return fail_mounted(cfg.error());
  if (o.fetch_timeout_s > 0) cfg->net.overall_timeout_ms = static_cast<int64_t>(o.fetch_timeout_s * 1000);
  auto chain = MakeSourceChain(*cfg, *repo);
  if (!chain.ok()) return fail_mounted(chain.error());
  Owner owner{::getuid(), ::getgid()};
  auto ictx = std::make_shared<IpfsContext>();
  ictx->repo = *repo;
  ictx->reader = std::make_shared<UnixfsReader>(*chain);
  ictx->stats = &state->stats;
  ictx->owner = owner;

  auto root = std::make_shared<StaticDir>(ino::kRoot, owner, 0555);
  auto ipfs = std::make_shared<IpfsRootNode>(ictx);
  auto ipns = std::make_shared<StaticDir>(ino::kIpns, owner);
  auto mfs_tree = MfsTree::Open(*repo, mfs_opts, *chain);  // chain: content linked from /ipfs
  if (!mfs_tree.ok()) return fail_mounted(mfs_tree.error());
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
    // Model aliases and limits from the config's "infer" section.
    const nlohmann::json& ic = cfg->raw.contains("infer") ? cfg->raw["infer"] : nlohmann::json::object();
    if (ic.contains("aliases") && ic["aliases"].is_object())
      for (auto it = ic["aliases"].begin(); it != ic["aliases"].end(); ++it)
        if (it.value().is_string()) infer_ctx->aliases[it.key()] = it.value().get<std::string>();
    infer::EngineLimits limits;
    if (ic.contains("memory_bytes") && ic["memory_bytes"].is_number_unsigned())
      limits.model_memory_bytes = ic["memory_bytes"].get<size_t>();
    if (ic.contains("max_job_bytes") && ic["max_job_bytes"].is_number_unsigned())
      limits.max_job_bytes = ic["max_job_bytes"].get<size_t>();
    infer_ctx->engine = std::make_shared<infer::InferenceEngine>(
        accel::MakeDefaultBackend(), infer::MakeUnixfsModelLoader(ictx->reader, infer_ctx->aliases), limits);
    infer_ctx->repo = *repo;
    infer_ctx->owner = owner;
  }
  auto infer = std::make_shared<InferRootNode>(infer_ctx);
  state->stats.AddSection("infer", [e = infer_ctx->engine] {
    auto s = e->stats();
    return nlohmann::json{{"jobs_done", s.jobs_done},       {"jobs_failed", s.jobs_failed},
                          {"inputs_done", s.inputs_done},   {"tokens_done", s.tokens_done},
                          {"batches", s.batches},           {"models_loaded", s.models_loaded},
                          {"models_evicted", s.models_evicted}, {"models_resident", s.models_resident},
                          {"jobs_in_flight", s.jobs_in_flight}, {"backend", e->backend().name()}};
  });
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

  if (::geteuid() == 0) std::thread(RaiseReadahead, mp).detach();

  fuse_loop_config* loop_cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_clone_fd(loop_cfg, 1);
  fuse_loop_cfg_set_max_threads(loop_cfg, o.max_threads);
  fuse_loop_cfg_set_idle_threads(loop_cfg, 8);
  int rc = fuse_session_loop_mt(se, loop_cfg);
  fuse_loop_cfg_destroy(loop_cfg);
  if (Status st = (*mfs_tree)->Close(); !st.ok())
    std::fprintf(stderr, "ipfskit: /mfs: final commit failed: %s\n", st.error().message.c_str());
  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  fuse_session_destroy(se);
  if (rc != 0 && rc != SIGINT && rc != SIGTERM && rc != SIGHUP)
    return MakeError(Errc::kIo, "FUSE loop ended with error " + std::to_string(rc));
  return Status::Ok();
}

Status Unmount(const std::string& mountpoint, bool lazy) {
  if (::geteuid() == 0) {
    if (::umount2(mountpoint.c_str(), lazy ? MNT_DETACH : 0) == 0) return Status::Ok();
    if (errno == EBUSY && !lazy) {
      std::fprintf(stderr, "ipfskit: %s is busy; detaching it (it goes away when the last file closes)\n",
                   mountpoint.c_str());
      if (::umount2(mountpoint.c_str(), MNT_DETACH) == 0) return Status::Ok();
    }
    return MakeError(Errc::kIo, mountpoint + ": " + std::strerror(errno));
  }
  std::string cmd = std::string("fusermount3 -u ") + (lazy ? "-z " : "") + "'" + mountpoint + "'";
  if (std::system(cmd.c_str()) == 0) return Status::Ok();
  if (!lazy) return Unmount(mountpoint, true);
  return MakeError(Errc::kIo, "fusermount3 could not unmount " + mountpoint);
}

}  // namespace ipfskit::fs
