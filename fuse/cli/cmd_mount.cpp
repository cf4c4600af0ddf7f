// mount, unmount.
#include <iostream>

#include "fuse/cli/cli.h"
#include "fuse/mount.h"

namespace ipfskit::cli {

void RegisterMountCommands(CLI::App& app, Context& ctx) {
  {
    auto o = std::make_shared<fs::MountOptions>();
    auto opts = std::make_shared<std::vector<std::string>>();
    auto* cmd = app.add_subcommand("mount", "Mount ipfskit at MOUNTPOINT: /ipfs, /ipns, /mfs, /infer, /.ipfskit.");
    cmd->footer(
        "Options (-o, comma separated, as for mount(8)):\n"
        "  repo=DIR        repo to serve (default: --repo, IPFSKIT_PATH, ~/.local/share/ipfskit)\n"
        "  allow_other     let other users see the mount (needs user_allow_other in /etc/fuse.conf)\n"
        "  ro              mount read-only\n"
        "  offline         use no network source\n"
        "  gateway=URL     add a trustless gateway (repeatable)\n"
        "  kubo_api=URL    Kubo RPC API\n"
        "  serve=HOST:PORT also serve this node's blocks as a trustless gateway (as 'ipfskit serve';\n"
        "                  loopback only unless serve_remote is given too)\n"
        "  timeout=SECS    give EIO when no source delivers a block in this time (default 60)\n"
        "  mfs_profile=NAME        import profile for files written in /mfs (default unixfs-v0-2015)\n"
        "  mfs_store_mode, mfs_store_mtime   keep chmod/utimens in /mfs as UnixFS 1.5 metadata\n"
        "  uid=N, gid=N    owner every file reports (default: the mounting user)\n"
        "  umask=OCTAL     permission bits cleared from every reported mode (e.g. 022, 077)\n"
        "  default_permissions  let the kernel check the reported modes. Off unless asked, or with\n"
        "                  allow_other, which turns it on (ipfskit itself checks no modes)\n"
        "  log=FILE        log to FILE (default: syslog when daemonised, stderr with -f)\n"
        "  debug           log at debug level (-d is libfuse's request trace); log_level=LEVEL\n"
        "Other -o options go to libfuse. Also: mount -t fuse.ipfskit ipfskit DIR -o repo=...\n"
        "Without -f the command returns once the mount answers, or prints the error that stopped\n"
        "it and exits non-zero. Under systemd use Type=notify with 'ipfskit mount -f DIR': READY=1 is\n"
        "sent once the mount answers, STOPPING=1 when it ends.\n"
        "Unmount with 'ipfskit unmount DIR' (or fusermount3 -u DIR); SIGINT/SIGTERM also unmount.");
    cmd->add_option("mountpoint", o->mountpoint, "Directory to mount on")->required();
    cmd->add_flag("-f,--foreground", o->foreground, "Stay in the foreground");
    cmd->add_flag("-d,--debug", o->debug, "Print every FUSE request (libfuse's trace; implies -f)");
    cmd->add_option("-o", *opts, "Mount options");
    cmd->callback([&ctx, o, opts] {
      for (const auto& s : *opts) {
        Status st = fs::ParseMountOptions(s, *o);
        if (!st.ok()) return ctx.Fail(st.error());
      }
      if (o->repo.empty()) o->repo = ctx.RepoPath();
      if (ctx.global.offline) o->offline = true;
      for (const auto& g : ctx.global.gateways) o->gateways.push_back(g);
      if (!ctx.global.kubo_api.empty()) o->kubo_api = ctx.global.kubo_api;
      Status st = fs::RunMount(*o);
      if (!st.ok()) return ctx.Fail(st.error());
    });
  }
  {
    auto mp = std::make_shared<std::string>();
    auto lazy = std::make_shared<bool>(false);
    auto* cmd = app.add_subcommand("unmount", "Unmount an ipfskit mount.");
    cmd->alias("umount");
    cmd->add_option("mountpoint", *mp)->required();
    cmd->add_flag("-z,--lazy", *lazy, "Detach now even if busy");
    cmd->callback([&ctx, mp, lazy] {
      Status st = fs::Unmount(*mp, *lazy);
      if (!st.ok()) return ctx.Fail(st.error());
    });
  }
}

}  // namespace ipfskit::cli
