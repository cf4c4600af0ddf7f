// Mounting and unmounting: the FUSE session's lifecycle.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "core/util/result.h"

namespace ipfskit::fs {

struct MountOptions {
  std::string mountpoint;
  std::string repo;               // repo directory
  bool foreground = false;        // -f: do not daemonise
  bool debug = false;             // -d: libfuse's request trace (implies foreground)
  bool allow_other = false;       // only when asked; implies default_permissions
  bool default_permissions = false;  // -o default_permissions: the kernel checks the modes
  bool read_only = false;
  bool offline = false;
  std::vector<std::string> gateways;
  std::string kubo_api;
  double fetch_timeout_s = 0;     // >0: EIO when no source delivers a block in this time
                                  // (default: the config's net.overall_timeout_ms, 60 s)
  std::vector<std::string> fuse_options;  // passed through to libfuse (-o ...)
  int max_threads = 64;
  // /mfs: profile of files written there (default unixfs-v0-2015, as `ipfskit add`), and
  // whether chmod/utimens go into the DAG as UnixFS 1.5 mode/mtime (off, as Kubo).
  std::string mfs_profile;     // -o mfs_profile=NAME
  bool mfs_store_mode = false;   // -o mfs_store_mode
  bool mfs_store_mtime = false;  // -o mfs_store_mtime
  // What every node reports (sshfs/rclone style): -o uid=N, gid=N (default: the mounting
  // user), umask=OCTAL (cleared from every reported mode; default 0).
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  mode_t umask = 0;
  // Logging: -o log=FILE (default: syslog when daemonised, stderr with -f), -o debug (debug
  // level), -o log_level=LEVEL.
  std::string log_file;
  std::string log_level;  // empty: info, or debug with log_debug
  bool log_debug = false;
  // -o serve=HOST:PORT: the mount also serves its blocks as a trustless gateway (ipfskit serve's
  // gateway over the same repo, cache, sources and names); serve_remote allows a non-loopback
  // address.
  std::string serve;
  bool serve_remote = false;
  // How long the parent waits for the daemon to report the mount ready (or failed).
  double startup_timeout_s = 60;
};

// Parses a mount(8)-style option string ("repo=/x,allow_other,ro") into `o`; options ipfskit
// does not know are passed to libfuse, generic mount(8) options are dropped.
Status ParseMountOptions(const std::string& opts, MountOptions& o);

// Mounts and serves until unmounted or signalled (SIGINT/SIGTERM unmount cleanly).
// A stale endpoint left by a killed daemon is detached first.
//
// Daemonised (no -f/-d), the calling process forks before anything opens LMDB or starts a
// thread; the child does all the setup and reports through a pipe. The parent returns only
// then: Ok once the mount answers a stat of its root, or the error that stopped startup (bad
// config, repo, option, mountpoint, FUSE session), or kTimeout after startup_timeout_s (the
// child is then sent SIGTERM). The child never returns: it _exits when the mount ends.
// In the foreground it returns when the mount ends, with the error that ended it if any.
// Either way, READY=1 goes to $NOTIFY_SOCKET once the root answers, STOPPING=1 when the
// FUSE loop ends.
Status RunMount(const MountOptions& o);

// Unmounts; when busy, detaches lazily (the daemon exits when the last file closes).
// Non-root: runs fusermount3 with an argv (no shell), killed after 30 s.
Status Unmount(const std::string& mountpoint, bool lazy);

}  // namespace ipfskit::fs
