// `ipfskit files`: the MFS tree (as Kubo's `ipfs files`), on the repo directly, mounted or not.
// Each command opens the tree from repo meta "mfs.root", applies its change and commits.
// A running mount adopts the new root once it has nothing uncommitted (about a second).
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <iostream>

#include "core/mfs/mfs_tree.h"
#include "fuse/cli/cli.h"

namespace ipfskit::cli {

namespace {

struct FilesOptions {
  std::string profile;
  bool store_mode = false, store_mtime = false;
};

Result<std::shared_ptr<MfsTree>> OpenTree(Context& ctx, const FilesOptions& fo) {
  IPFSKIT_ASSIGN_OR_RETURN(auto repo, ctx.OpenRepo());
  MfsOptions o;
  if (!fo.profile.empty()) IPFSKIT_TRY_STATUS(ApplyMfsProfile(fo.profile, o));
  o.store_mode = fo.store_mode;
  o.store_mtime = fo.store_mtime;
  // As a mount without -o uid/gid: nodes the side record does not name belong to this user.
  o.uid = ::getuid();
  o.gid = ::getgid();
  // Blocks the repo lacks (content linked from /ipfs) come from the network sources.
  std::shared_ptr<BlockGetter> fallback;
  if (auto b = ctx.Blocks(); b.ok() && b->get() != repo.get()) fallback = *b;
  return MfsTree::Open(repo, o, fallback);
}

const char* KindName(MfsKind k) {
  switch (k) {
    case MfsKind::kDirectory: return "directory";
    case MfsKind::kSymlink: return "symlink";
    case MfsKind::kFifo: return "fifo";
    case MfsKind::kSocket: return "socket";
    case MfsKind::kCharDevice: return "character device";
    case MfsKind::kBlockDevice: return "block device";
    case MfsKind::kFile: break;
  }
  return "file";
}

std::string BaseName(std::string_view p) {
  while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  size_t s = p.rfind('/');
  return std::string(s == std::string_view::npos ? p : p.substr(s + 1));
}

bool IsIpfsPath(std::string_view p) { return p.substr(0, 6) == "/ipfs/"; }

std::string DirName(const std::string& p) {
  size_t s = p.rfind('/');
  return s == std::string::npos ? std::string() : p.substr(0, s);
}

Status MkdirAll(MfsTree& t, const std::string& path) {
  auto r = t.MkdirAll(path);
  if (!r.ok()) return MakeError(r.error().code, path + ": " + r.error().message);
  return Status::Ok();
}

Status WriteAllFd(int fd, const uint8_t* p, size_t n) {
  while (n) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return MakeError(Errc::kIo, std::string("write: ") + std::strerror(errno));
    }
    p += w;
    n -= w;
  }
  return Status::Ok();
}

// Runs `body` on an open tree and reports its error; `commit` makes changes durable.
template <typename F>
void WithTree(Context& ctx, const FilesOptions& fo, bool commit, F&& body) {
  auto tree = OpenTree(ctx, fo);
  if (!tree.ok()) return ctx.Fail(tree.error());
  Status st = body(**tree);
  if (!st.ok()) return ctx.Fail(st.error());
  if (commit) {
    st = (*tree)->Commit();
    if (!st.ok()) return ctx.Fail(st.error());
  }
}

Status Remove(MfsTree& t, const MfsTree::NodeRef& dir, const std::string& name, bool recursive) {
  IPFSKIT_ASSIGN_OR_RETURN(auto n, t.Lookup(dir, name));
  if (MfsTree::KindOf(n) != MfsKind::kDirectory) return t.Unlink(dir, name);
  if (!recursive) return MakeError(Errc::kIsDir, name + " is a directory, use -r to remove directories");
  IPFSKIT_ASSIGN_OR_RETURN(auto items, t.List(n));
  for (const auto& i : items) IPFSKIT_TRY_STATUS(Remove(t, n, i.name, true));
  return t.Rmdir(dir, name);
}

}  // namespace

void RegisterFilesCommands(CLI::App& app, Context& ctx) {
  auto fo = std::make_shared<FilesOptions>();
  auto* files = app.add_subcommand("files", "Work with the MFS tree that /mfs shows (as `ipfs files`).");
  files->require_subcommand(1);
  files->footer(
      "Paths start at the MFS root ('/a/b'). The tree's root CID is kept in the repo (meta mfs.root)\n"
      "and is a GC root. A mounted ipfskit picks up changes made here once it has nothing\n"
      "uncommitted (about a second); if both change the tree at once, the last commit wins.");
  files->add_option("--profile", fo->profile, "Import profile for written files (default unixfs-v0-2015)");
  files->add_flag("--store-mode", fo->store_mode, "Store chmod modes in the DAG (UnixFS 1.5)");
  files->add_flag("--store-mtime", fo->store_mtime, "Store mtimes in the DAG (UnixFS 1.5)");

  {
    auto path = std::make_shared<std::string>("/");
    auto lng = std::make_shared<bool>(false);
    auto* c = files->add_subcommand("ls", "List a directory.");
    c->add_option("path", *path, "MFS path (default /)");
    c->add_flag("-l,--long", *lng, "Also print each entry's CID and size");
    c->callback([&ctx, fo, path, lng] {
      WithTree(ctx, *fo, false, [&](MfsTree& t) -> Status {
        IPFSKIT_ASSIGN_OR_RETURN(auto n, t.Resolve(*path));
        if (MfsTree::KindOf(n) != MfsKind::kDirectory) {
          std::cout << BaseName(*path) << "\n";
          return Status::Ok();
        }
        IPFSKIT_ASSIGN_OR_RETURN(auto items, t.List(n));
        for (const auto& i : items) {
          if (!*lng) {
            std::cout << i.name << "\n";
            continue;
          }
          IPFSKIT_ASSIGN_OR_RETURN(auto child, t.Lookup(n, i.name));
          if (IsSpecial(MfsTree::KindOf(child))) {
            // Kept beside the DAG: no CID.
            std::cout << i.name << "\t-\t" << KindName(MfsTree::KindOf(child)) << "\n";
            continue;
          }
          IPFSKIT_ASSIGN_OR_RETURN(Cid cid, t.CidOf(child));
          IPFSKIT_ASSIGN_OR_RETURN(MfsAttr a, t.Getattr(child));
          std::cout << i.name << (a.kind == MfsKind::kDirectory ? "/" : "") << "\t" << cid.ToString() << "\t"
                    << a.size << "\n";
        }
        return Status::Ok();
      });
    });
  }
  {
    auto path = std::make_shared<std::string>();
    auto hash = std::make_shared<bool>(false);
    auto size = std::make_shared<bool>(false);
    auto* c = files->add_subcommand("stat", "Show an entry's CID, size and type.");
    c->add_option("path", *path, "MFS path")->required();
    c->add_flag("--hash", *hash, "Print only the CID");
    c->add_flag("--size", *size, "Print only the size");
    c->callback([&ctx, fo, path, hash, size] {
      WithTree(ctx, *fo, false, [&](MfsTree& t) -> Status {
        IPFSKIT_ASSIGN_OR_RETURN(auto n, t.Resolve(*path));
        IPFSKIT_ASSIGN_OR_RETURN(Cid cid, t.CidOf(n));
        IPFSKIT_ASSIGN_OR_RETURN(MfsAttr a, t.Getattr(n));
        IPFSKIT_ASSIGN_OR_RETURN(NodeInfo info, t.reader().Stat(cid));
        uint64_t cumulative = info.block_size;
        if (cid.codec() == codec::kDagPb) {
          IPFSKIT_ASSIGN_OR_RETURN(Block b, t.reader().blocks().Get(cid));
          IPFSKIT_ASSIGN_OR_RETURN(PbNode pb, DecodePbNode(b.data()));
          for (const auto& l : pb.links) cumulative += l.tsize.value_or(0);
        }
        uint64_t sz = a.kind == MfsKind::kDirectory ? 0 : a.size;
        if (*hash) {
          std::cout << cid.ToString() << "\n";
        } else if (*size) {
          std::cout << sz << "\n";
        } else if (ctx.global.json) {
          std::cout << nlohmann::json{{"Hash", cid.ToString()}, {"Size", sz}, {"CumulativeSize", cumulative},
                                      {"Blocks", info.num_links}, {"Type", KindName(a.kind)}}
                           .dump()
                    << "\n";
        } else {
          std::cout << cid.ToString() << "\nSize: " << sz << "\nCumulativeSize: " << cumulative
                    << "\nChildBlocks: " << info.num_links << "\nType: " << KindName(a.kind) << "\n";
        }
        return Status::Ok();
      });
    });
  }
  {
    auto path = std::make_shared<std::string>();
    auto parents = std::make_shared<bool>(false);
    auto* c = files->add_subcommand("mkdir", "Make a directory.");
    c->add_option("path", *path, "MFS path")->required();
    c->add_flag("-p,--parents", *parents, "Make parent directories as needed; no error if it exists");
    c->callback([&ctx, fo, path, parents] {
      WithTree(ctx, *fo, true, [&](MfsTree& t) -> Status {
        if (*parents) return MkdirAll(t, *path);
        IPFSKIT_ASSIGN_OR_RETURN(auto pn, t.ResolveParent(*path));
        auto r = t.Mkdir(pn.first, pn.second, 0755);
        if (!r.ok()) return MakeError(r.error().code, *path + ": " + r.error().message);
        return Status::Ok();
      });
    });
  }
  {
    auto src = std::make_shared<std::string>();
    auto dst = std::make_shared<std::string>();
    auto parents = std::make_shared<bool>(false);
    auto* c = files->add_subcommand("cp", "Copy /ipfs/CID[/path] or an MFS path to an MFS path (no bytes copied).");
    c->add_option("source", *src, "/ipfs/CID[/path] or MFS path")->required();
    c->add_option("dest", *dst, "MFS path (must not exist)")->required();
    c->add_flag("-p,--parents", *parents, "Make parent directories as needed");
    c->callback([&ctx, fo, src, dst, parents] {
      WithTree(ctx, *fo, true, [&](MfsTree& t) -> Status {
        Cid cid;
        if (IsIpfsPath(*src)) {
          IPFSKIT_ASSIGN_OR_RETURN(cid, ResolveIpfsPath(ctx, *src));
        } else {
          IPFSKIT_ASSIGN_OR_RETURN(auto n, t.Resolve(*src));
          IPFSKIT_ASSIGN_OR_RETURN(cid, t.CidOf(n));
        }
        std::string to = *dst;
        if (auto d = t.Resolve(to); d.ok() && MfsTree::KindOf(*d) == MfsKind::kDirectory)
          to = (to.back() == '/' ? to : to + "/") + BaseName(*src);
        if (*parents) {
          IPFSKIT_TRY_STATUS(MkdirAll(t, DirName(to)));
        }
        IPFSKIT_ASSIGN_OR_RETURN(auto pn, t.ResolveParent(to));
        auto r = t.Link(pn.first, pn.second, cid, false);
        if (!r.ok()) return MakeError(r.error().code, to + ": " + r.error().message);
        return Status::Ok();
      });
    });
  }
  {
    auto src = std::make_shared<std::string>();
    auto dst = std::make_shared<std::string>();
    auto* c = files->add_subcommand("mv", "Move or rename an entry (into DEST if DEST is a directory).");
    c->add_option("source", *src, "MFS path")->required();
    c->add_option("dest", *dst, "MFS path")->required();
    c->callback([&ctx, fo, src, dst] {
      WithTree(ctx, *fo, true, [&](MfsTree& t) -> Status {
        IPFSKIT_ASSIGN_OR_RETURN(auto from, t.ResolveParent(*src));
        std::string to = *dst;
        if (auto d = t.Resolve(to); d.ok() && MfsTree::KindOf(*d) == MfsKind::kDirectory)
          to = (to.back() == '/' ? to : to + "/") + from.second;
        IPFSKIT_ASSIGN_OR_RETURN(auto pn, t.ResolveParent(to));
        Status st = t.Rename(from.first, from.second, pn.first, pn.second, 0);
        if (!st.ok()) return MakeError(st.error().code, *src + " -> " + to + ": " + st.error().message);
        return Status::Ok();
      });
    });
  }
  {
    auto paths = std::make_shared<std::vector<std::string>>();
    auto recursive = std::make_shared<bool>(false);
    auto force = std::make_shared<bool>(false);
    auto* c = files->add_subcommand("rm", "Remove entries.");
    c->add_option("path", *paths, "MFS paths")->required();
    c->add_flag("-r,--recursive", *recursive, "Remove directories and their contents");
    c->add_flag("-f,--force", *force, "Ignore entries that do not exist");
    c->callback([&ctx, fo, paths, recursive, force] {
      WithTree(ctx, *fo, true, [&](MfsTree& t) -> Status {
        for (const auto& p : *paths) {
          auto pn = t.ResolveParent(p);
          if (!pn.ok()) {
            if (*force && pn.error().code == Errc::kNotFound) continue;
            return pn.error();
          }
          Status st = Remove(t, pn->first, pn->second, *recursive);
          if (!st.ok() && !(*force && st.error().code == Errc::kNotFound))
            return MakeError(st.error().code, p + ": " + st.error().message);
        }
        return Status::Ok();
      });
    });
  }
  {
    auto path = std::make_shared<std::string>();
    auto offset = std::make_shared<uint64_t>(0);
    auto count = std::make_shared<int64_t>(-1);
    auto* c = files->add_subcommand("read", "Write a file's bytes to stdout.");
    c->add_option("path", *path, "MFS path")->required();
    c->add_option("-o,--offset", *offset, "Byte offset to start at");
    c->add_option("-n,--count", *count, "Maximum bytes to read");
    c->callback([&ctx, fo, path, offset, count] {
      WithTree(ctx, *fo, false, [&](MfsTree& t) -> Status {
        IPFSKIT_ASSIGN_OR_RETURN(auto n, t.Resolve(*path));
        std::vector<uint8_t> buf(1 << 20);
        uint64_t off = *offset;
        uint64_t left = *count < 0 ? UINT64_MAX : static_cast<uint64_t>(*count);
        while (left) {
          size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), left));
          IPFSKIT_ASSIGN_OR_RETURN(size_t got, t.Read(n, off, std::span<uint8_t>(buf.data(), want)));
          if (got == 0) break;
          IPFSKIT_TRY_STATUS(WriteAllFd(STDOUT_FILENO, buf.data(), got));
          off += got;
          left -= got;
        }
        return Status::Ok();
      });
    });
  }
  {
    auto path = std::make_shared<std::string>();
    auto input = std::make_shared<std::string>("-");
    auto create = std::make_shared<bool>(false), truncate = std::make_shared<bool>(false),
         parents = std::make_shared<bool>(false);
    auto offset = std::make_shared<uint64_t>(0);
    auto* c = files->add_subcommand("write", "Write stdin (or FILE) into an MFS file.");
    c->add_option("path", *path, "MFS path")->required();
    c->add_option("file", *input, "Input file ('-' or none: stdin)");
    c->add_flag("-e,--create", *create, "Create the file if it does not exist");
    c->add_flag("-t,--truncate", *truncate, "Truncate the file to size zero before writing");
    c->add_flag("-p,--parents", *parents, "Make parent directories as needed");
    c->add_option("-o,--offset", *offset, "Byte offset to begin writing at");
    c->callback([&ctx, fo, path, input, create, truncate, parents, offset] {
      WithTree(ctx, *fo, true, [&](MfsTree& t) -> Status {
        if (*parents) {
          IPFSKIT_TRY_STATUS(MkdirAll(t, DirName(*path)));
        }
        IPFSKIT_ASSIGN_OR_RETURN(auto pn, t.ResolveParent(*path));
        MfsTree::NodeRef n;
        auto existing = t.Lookup(pn.first, pn.second);
        if (existing.ok()) {
          n = *existing;
        } else if (existing.error().code == Errc::kNotFound && *create) {
          IPFSKIT_ASSIGN_OR_RETURN(n, t.Create(pn.first, pn.second, 0644, false));
        } else if (existing.error().code == Errc::kNotFound) {
          return MakeError(Errc::kNotFound, *path + ": does not exist (use --create)");
        } else {
          return existing.error();
        }
        if (*truncate) IPFSKIT_TRY_STATUS(t.Truncate(n, 0));
        int fd = STDIN_FILENO;
        if (*input != "-") {
          fd = ::open(input->c_str(), O_RDONLY | O_CLOEXEC);
          if (fd < 0) return MakeError(Errc::kIo, *input + ": " + std::strerror(errno));
        }
        std::vector<uint8_t> buf(1 << 20);
        uint64_t off = *offset;
        Status st;
        for (;;) {
          ssize_t r = ::read(fd, buf.data(), buf.size());
          if (r < 0 && errno == EINTR) continue;
          if (r < 0) {
            st = MakeError(Errc::kIo, std::string("read: ") + std::strerror(errno));
            break;
          }
          if (r == 0) break;
          auto w = t.Write(n, off, ByteView(buf.data(), static_cast<size_t>(r)));
          if (!w.ok()) {
            st = w.error();
            break;
          }
          off += static_cast<uint64_t>(r);
        }
        if (fd != STDIN_FILENO) ::close(fd);
        return st;
      });
    });
  }
  {
    auto path = std::make_shared<std::string>("/");
    auto* c = files->add_subcommand("flush", "Commit the tree and print the CID of PATH (default /).");
    c->add_option("path", *path, "MFS path");
    c->callback([&ctx, fo, path] {
      WithTree(ctx, *fo, true, [&](MfsTree& t) -> Status {
        IPFSKIT_ASSIGN_OR_RETURN(auto n, t.Resolve(*path));
        IPFSKIT_ASSIGN_OR_RETURN(Cid cid, t.CidOf(n));
        std::cout << cid.ToString() << "\n";
        return Status::Ok();
      });
    });
  }
}

}  // namespace ipfskit::cli
