// Mounting and unmounting: the FUSE session's lifecycle.
#pragma once

#include <string>
#include <vector>

#include "core/util/result.h"

namespace ipfskit::fs {

struct MountOptions {
  std::string mountpoint;
  std::string repo;               // repo directory
  bool foreground = false;        // -f: do not daemonise
  bool debug = false;             // -d: libfuse debug output (implies foreground)
  bool allow_other = false;       // only when asked
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
};

// Parses a mount(8)-style option string ("repo=/x,allow_other,ro") into `o`; options ipfskit
// does not know are passed to libfuse, generic mount(8) options are dropped.
Status ParseMountOptions(const std::string& opts, MountOptions& o);

// Mounts and serves until unmounted or signalled (SIGINT/SIGTERM unmount cleanly).
// A stale endpoint left by a killed daemon is detached first.
Status RunMount(const MountOptions& o);

// Unmounts; when busy, detaches lazily (the daemon exits when the last file closes).
Status Unmount(const std::string& mountpoint, bool lazy);

}  // namespace ipfskit::fs
