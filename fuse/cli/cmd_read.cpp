// cat, get, ls, stat: reading UnixFS content by CID path.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <iostream>

#include "fuse/cli/cli.h"

namespace ipfskit::cli {

namespace {

constexpr size_t kIoChunk = 1 << 20;

Status WriteAll(int fd, const uint8_t* p, size_t n) {
  while (n) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return MakeError(errno == ENOSPC ? Errc::kNoSpace : Errc::kIo, std::string("write: ") + std::strerror(errno));
    }
    p += w;
    n -= w;
  }
  return Status::Ok();
}

Status CopyFile(UnixfsReader& r, const Cid& cid, uint64_t size, int fd, Progress* progress, uint64_t* done) {
  std::vector<uint8_t> buf(kIoChunk);
  for (uint64_t off = 0; off < size;) {
    // Read ahead: tell the sources which leaves come next.
    auto leaves = r.LeavesFor(cid, off, 8 * kIoChunk);
    if (leaves.ok()) r.blocks().Prefetch(*leaves);
    IPFSKIT_ASSIGN_OR_RETURN(size_t n, r.Read(cid, off, buf));
    if (n == 0) return MakeError(Errc::kTruncated, cid.ToString() + ": file shorter than its size");
    IPFSKIT_TRY_STATUS(WriteAll(fd, buf.data(), n));
    off += n;
    if (done) *done += n;
    if (progress && done) progress->Update(*done);
  }
  return Status::Ok();
}

Status GetTree(UnixfsReader& r, const Cid& cid, const std::filesystem::path& out, Progress* progress, uint64_t* done,
               int depth) {
  if (depth > 256) return MakeError(Errc::kMalformed, "directory tree too deep");
  IPFSKIT_ASSIGN_OR_RETURN(NodeInfo info, r.Stat(cid));
  switch (info.kind) {
    case NodeKind::kSymlink:
      if (::symlink(info.symlink_target.c_str(), out.c_str()) != 0)
        return MakeError(Errc::kIo, out.string() + ": " + std::strerror(errno));
      return Status::Ok();
    case NodeKind::kFile: {
      int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, info.mode.value_or(0644));
      if (fd < 0) return MakeError(Errc::kIo, out.string() + ": " + std::strerror(errno));
      Status st = CopyFile(r, cid, info.size, fd, progress, done);
      if (::close(fd) != 0 && st.ok()) st = MakeError(Errc::kIo, out.string() + ": " + std::strerror(errno));
      return st;
    }
    case NodeKind::kDirectory:
    case NodeKind::kHamtDirectory: {
      if (::mkdir(out.c_str(), 0755) != 0) return MakeError(Errc::kIo, out.string() + ": " + std::strerror(errno));
      IPFSKIT_ASSIGN_OR_RETURN(auto entries, r.ListDir(cid));
      for (const auto& e : entries) {
        // Names come from the network: never let one escape the output directory.
        if (e.name.empty() || e.name == "." || e.name == ".." || e.name.find('/') != std::string::npos)
          return MakeError(Errc::kMalformed, "unsafe entry name '" + e.name + "' in " + cid.ToString());
        IPFSKIT_TRY_STATUS(GetTree(r, e.cid, out / e.name, progress, done, depth + 1));
      }
      return Status::Ok();
    }
  }
  return Status::Ok();
}

std::string TypeName(NodeKind k) {
  switch (k) {
    case NodeKind::kFile: return "file";
    case NodeKind::kDirectory: return "directory";
    case NodeKind::kHamtDirectory: return "directory";
    case NodeKind::kSymlink: return "symlink";
  }
  return "unknown";
}

}  // namespace

void RegisterReadCommands(CLI::App& app, Context& ctx) {
  {
    auto paths = std::make_shared<std::vector<std::string>>();
    auto* cmd = app.add_subcommand("cat", "Write the contents of files to standard output (as `ipfs cat`).");
    cmd->add_option("ipfs-path", *paths, "CID[/path] or /ipfs/CID[/path]")->required();
    cmd->callback([&ctx, paths] {
      auto r = ctx.Reader();
      if (!r.ok()) return ctx.Fail(r.error());
      for (const auto& p : *paths) {
        auto cid = ResolveIpfsPath(ctx, p);
        if (!cid.ok()) return ctx.Fail(cid.error());
        auto info = (*r)->Stat(*cid);
        if (!info.ok()) return ctx.Fail(p + ": " + info.error().message);
        if (info->kind != NodeKind::kFile) return ctx.Fail(p + ": this dag node is a directory");
        Status st = CopyFile(**r, *cid, info->size, STDOUT_FILENO, nullptr, nullptr);
        if (!st.ok()) return ctx.Fail(p + ": " + st.error().message);
      }
    });
  }
  {
    auto path = std::make_shared<std::string>();
    auto output = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand("get", "Download IPFS objects to a file or directory (as `ipfs get`).");
    cmd->footer("Writes to a temporary name beside OUT and renames it into place, so an interrupted\n"
                "get never leaves a half-written OUT behind.");
    cmd->add_option("ipfs-path", *path, "CID[/path] or /ipfs/CID[/path]")->required();
    cmd->add_option("-o,--output", *output, "Path where the output is stored (default: the CID)");
    cmd->callback([&ctx, path, output] {
      auto r = ctx.Reader();
      if (!r.ok()) return ctx.Fail(r.error());
      auto cid = ResolveIpfsPath(ctx, *path);
      if (!cid.ok()) return ctx.Fail(cid.error());
      std::filesystem::path out = output->empty() ? std::filesystem::path(cid->ToString()) : std::filesystem::path(*output);
      if (std::filesystem::exists(std::filesystem::symlink_status(out)))
        return ctx.Fail(out.string() + " already exists");
      std::filesystem::path tmp = out;
      tmp += ".ipfskit-partial-" + std::to_string(::getpid());
      auto info = (*r)->Stat(*cid);
      if (!info.ok()) return ctx.Fail(info.error());
      Progress progress("saving", info->kind == NodeKind::kFile ? info->size : 0);
      uint64_t done = 0;
      Status st = GetTree(**r, *cid, tmp, &progress, &done, 0);
      progress.Finish();
      std::error_code ec;
      if (!st.ok()) {
        std::filesystem::remove_all(tmp, ec);
        return ctx.Fail(st.error());
      }
      std::filesystem::rename(tmp, out, ec);
      if (ec) {
        std::filesystem::remove_all(tmp, ec);
        return ctx.Fail(out.string() + ": " + ec.message());
      }
      std::cerr << "Saving file(s) to " << out.string() << "\n";
    });
  }
  {
    auto paths = std::make_shared<std::vector<std::string>>();
    auto* cmd = app.add_subcommand("ls", "List directory contents (as `ipfs ls`): <cid> <size> <name>.");
    cmd->add_option("ipfs-path", *paths, "CID[/path] of a directory")->required();
    cmd->callback([&ctx, paths] {
      auto r = ctx.Reader();
      if (!r.ok()) return ctx.Fail(r.error());
      for (const auto& p : *paths) {
        auto cid = ResolveIpfsPath(ctx, p);
        if (!cid.ok()) return ctx.Fail(cid.error());
        auto entries = (*r)->ListDir(*cid);
        if (!entries.ok()) return ctx.Fail(p + ": " + entries.error().message);
        std::vector<DirEntry> sorted = std::move(*entries);
        std::sort(sorted.begin(), sorted.end(), [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
        nlohmann::json links = nlohmann::json::array();
        for (const auto& e : sorted) {
          auto info = (*r)->Stat(e.cid);
          if (!info.ok()) return ctx.Fail(e.name + ": " + info.error().message);
          bool dir = info->is_dir();
          if (ctx.global.json) {
            links.push_back({{"Name", e.name}, {"Hash", e.cid.ToString()}, {"Size", dir ? 0 : info->size},
                             {"Type", TypeName(info->kind)}, {"Target", info->symlink_target}});
          } else {
            std::cout << e.cid.ToString() << " " << (dir ? std::string("-") : std::to_string(info->size)) << " "
                      << e.name << (dir ? "/" : "") << "\n";
          }
        }
        if (ctx.global.json)
          std::cout << nlohmann::json{{"Objects", {{{"Hash", p}, {"Links", links}}}}}.dump() << "\n";
      }
    });
  }
  {
    auto path = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand("stat", "Show UnixFS information about a path (as `ipfs files stat`).");
    cmd->add_option("ipfs-path", *path, "CID[/path]")->required();
    cmd->callback([&ctx, path] {
      auto r = ctx.Reader();
      if (!r.ok()) return ctx.Fail(r.error());
      auto cid = ResolveIpfsPath(ctx, *path);
      if (!cid.ok()) return ctx.Fail(cid.error());
      auto info = (*r)->Stat(*cid);
      if (!info.ok()) return ctx.Fail(info.error());
      uint64_t cumulative = info->block_size;
      {
        // CumulativeSize: the block plus the Tsize of each link, as Kubo reports it.
        auto blk = (*r)->blocks().Get(*cid);
        if (blk.ok() && cid->codec() == codec::kDagPb) {
          auto node = DecodePbNode(blk->data());
          if (node.ok())
            for (const auto& l : node->links) cumulative += l.tsize.value_or(0);
        }
      }
      uint64_t size = info->is_dir() ? 0 : info->size;
      if (ctx.global.json) {
        nlohmann::json j = {{"Hash", cid->ToString()}, {"Size", size}, {"CumulativeSize", cumulative},
                            {"Blocks", info->num_links}, {"Type", TypeName(info->kind)}};
        if (info->mode) j["Mode"] = *info->mode;
        if (info->mtime) j["Mtime"] = info->mtime->seconds;
        std::cout << j.dump() << "\n";
      } else {
        std::cout << cid->ToString() << "\nSize: " << size << "\nCumulativeSize: " << cumulative
                  << "\nChildBlocks: " << info->num_links << "\nType: " << TypeName(info->kind) << "\n";
        if (info->mode) {
          char m[16];
          std::snprintf(m, sizeof m, "%04o", *info->mode);
          std::cout << "Mode: " << m << "\n";
        }
        if (info->mtime) std::cout << "Mtime: " << info->mtime->seconds << "\n";
      }
    });
  }
}

}  // namespace ipfskit::cli
