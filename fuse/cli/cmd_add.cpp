// `ipfskit add`: Kubo's `ipfs add`, same flags, same output lines, same CIDs.
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "core/importer/importer.h"
#include "core/multiformats/multibase.h"
#include "fuse/cli/cli.h"

namespace ipfskit::cli {

namespace {

struct AddArgs {
  std::vector<std::string> paths;
  bool recursive = false, only_hash = false, quieter = false, quiet = false, wrap = false;
  bool hidden = false, trickle = false, pin = true, raw_leaves = false, inline_blocks = false;
  bool progress = false, preserve_mode = false, preserve_mtime = false;
  std::string profile, chunker, hash, cid_base;
  int cid_version = 0;
  size_t inline_limit = 32;
  CLI::Option *o_raw = nullptr, *o_cidv = nullptr, *o_profile = nullptr, *o_chunker = nullptr,
              *o_hash = nullptr, *o_inline_limit = nullptr, *o_progress = nullptr;
};

uint64_t TotalBytes(const std::vector<std::string>& paths) {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& p : paths) {
    if (std::filesystem::is_regular_file(p, ec)) {
      total += std::filesystem::file_size(p, ec);
    } else if (std::filesystem::is_directory(p, ec)) {
      for (auto it = std::filesystem::recursive_directory_iterator(p, ec);
           !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
        if (it->is_regular_file(ec)) total += it->file_size(ec);
    }
  }
  return total;
}

void RunAdd(Context& ctx, AddArgs& a) {
  ImportFlags f;
  if (a.o_profile->count()) f.profile = a.profile;
  if (a.o_cidv->count()) f.cid_version = a.cid_version;
  if (a.o_raw->count()) f.raw_leaves = a.raw_leaves;
  if (a.o_chunker->count()) f.chunker = a.chunker;
  if (a.o_hash->count()) f.hash = a.hash;
  if (a.o_inline_limit->count()) f.inline_limit = a.inline_limit;
  f.trickle = a.trickle;
  f.inline_blocks = a.inline_blocks;
  f.hidden = a.hidden;
  f.preserve_mode = a.preserve_mode;
  f.preserve_mtime = a.preserve_mtime;
  auto opts = ResolveImportOptions(f);
  if (!opts.ok()) return ctx.Fail(opts.error());
  // --cid-base as Kubo: v1 CIDs in that base; a v0 CID is printed as v1 unless it is base58btc.
  std::optional<Multibase> base;
  if (!a.cid_base.empty()) {
    auto b = ParseMultibaseName(a.cid_base);
    if (!b.ok()) return ctx.Fail("--cid-base: " + b.error().message);
    base = *b;
  }
  auto cid_text = [&](const Cid& c) {
    if (!base || (c.version() == 0 && *base == Multibase::kBase58Btc)) return c.ToString();
    return c.ToV1().ToString(*base);
  };
  // Progress is on unless quiet, as in Kubo; -p/--progress=false decide when given. It is
  // drawn only when stderr is a terminal.
  bool show_progress = a.o_progress->count() ? a.progress : !(a.quiet || a.quieter);

  std::shared_ptr<Repo> repo;
  std::unique_ptr<BlockSink> writer;
  if (!a.only_hash) {
    auto r = ctx.OpenRepo();
    if (!r.ok()) return ctx.Fail(r.error());
    repo = *r;
    // 8 MiB batches: a batch is held twice until its commit (our copy, LMDB's dirty pages), so
    // its size bounds the RSS (92 MiB peak for 1 GiB; 16 MiB batches: 131) and, in fsyncs, the
    // speed.
    writer = repo->NewWriter(8 << 20);
  }
  auto emit = [&](const std::string& name, const DagEntry& e) {
    if (a.quieter) return;
    if (ctx.global.json) {
      nlohmann::json j = {{"Name", name}, {"Hash", cid_text(e.cid)}, {"Size", std::to_string(e.tsize)}};
      std::cout << j.dump() << "\n";
    } else if (a.quiet) {
      std::cout << cid_text(e.cid) << "\n";
    } else {
      std::cout << "added " << cid_text(e.cid) << " " << name << "\n";
    }
  };

  std::optional<Progress> bar;
  if (show_progress) bar.emplace("adding", a.paths.empty() ? 0 : TotalBytes(a.paths));
  struct {
    std::optional<Progress>& bar;
    void Update(uint64_t n) { if (bar) bar->Update(n); }
    void Finish() { if (bar) bar->Finish(); }
  } progress{bar};
  std::vector<DirEntryIn> wrapped;
  std::optional<DagEntry> last;
  if (a.paths.empty() || (a.paths.size() == 1 && a.paths[0] == "-")) {
    auto r = ImportFile(STDIN_FILENO, *opts, writer.get(), [&](uint64_t n) { progress.Update(n); });
    if (!r.ok()) return ctx.Fail(r.error());
    progress.Finish();
    emit(cid_text(r->cid), *r);
    last = *r;
    if (a.wrap) wrapped.push_back(DirEntryIn{r->cid.ToString(), *r});
  } else {
    uint64_t base = 0;
    for (const auto& p : a.paths) {
      AddPathOptions po;
      po.recursive = a.recursive;
      auto r = AddPath(
          p, *opts, po, writer.get(),
          [&](const AddedItem& item) {
            emit(item.path, item.entry);
          },
          [&](uint64_t n) { progress.Update(base + n); });
      if (!r.ok()) return ctx.Fail(r.error());
      base += r->filesize;
      last = *r;
      std::string name = std::filesystem::path(p).filename().string();
      if (name.empty() || name == "." || name == "..")
        name = std::filesystem::weakly_canonical(p).filename().string();
      wrapped.push_back(DirEntryIn{name, *r});
    }
    progress.Finish();
  }
  if (a.wrap) {
    DagWriter w(*opts, writer.get());
    auto d = BuildDirectory(std::move(wrapped), w);
    if (!d.ok()) return ctx.Fail(d.error());
    emit("", *d);
    last = *d;
  }
  if (writer) {
    Status st = writer->Flush();
    if (!st.ok()) return ctx.Fail(st.error());
    if (a.pin && last) {
      st = repo->Pin(last->cid, PinType::kRecursive);
      if (!st.ok()) return ctx.Fail(st.error());
    }
  }
  if (a.quieter && last) std::cout << cid_text(last->cid) << "\n";
}

}  // namespace

void RegisterAddCommand(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<AddArgs>();
  auto* cmd = app.add_subcommand("add", "Add a file or directory to ipfskit (as `ipfs add`).");
  cmd->footer(
      "Prints 'added <cid> <name>' for every file and directory, like Kubo, and pins the root.\n"
      "With no PATH or '-', reads standard input. The default profile is unixfs-v0-2015 (Kubo's\n"
      "default); --profile unixfs-v1-2025 gives CIDv1, raw leaves, 1 MiB chunks, 1024-wide nodes.");
  cmd->add_option("path", a->paths, "Files or directories to add ('-' for stdin)");
  cmd->add_flag("-r,--recursive", a->recursive, "Add directory paths recursively");
  cmd->add_flag("-n,--only-hash", a->only_hash, "Only chunk and hash; do not write to the repo");
  cmd->add_flag("-Q,--quieter", a->quieter, "Write only the final hash");
  cmd->add_flag("-q,--quiet", a->quiet, "Write only hashes");
  cmd->add_flag("-w,--wrap-with-directory", a->wrap, "Wrap files in a directory object");
  cmd->add_flag("-H,--hidden", a->hidden, "Include files whose names begin with '.'");
  cmd->add_flag("-t,--trickle", a->trickle, "Use the trickle DAG layout");
  cmd->add_flag("--pin", a->pin, "Pin the added root (default true; --pin=false to skip)");
  a->o_raw = cmd->add_flag("--raw-leaves", a->raw_leaves, "Use raw blocks for leaves");
  a->o_cidv = cmd->add_option("--cid-version", a->cid_version, "CID version (0 or 1)");
  a->o_profile = cmd->add_option("--profile", a->profile, "Import profile: unixfs-v0-2015 or unixfs-v1-2025");
  a->o_chunker = cmd->add_option("-s,--chunker", a->chunker,
                                 "Chunking algorithm, size-[bytes] (rabin and buzhash are refused: CIDs not verified against Kubo)");
  a->o_hash = cmd->add_option("--hash", a->hash, "Hash function: sha2-256 (default), sha2-512, sha3-256, sha3-512");
  cmd->add_flag("--inline", a->inline_blocks, "Inline small blocks into CIDs (identity hash)");
  a->o_inline_limit = cmd->add_option("--inline-limit", a->inline_limit, "Maximum block size to inline (default 32)");
  a->o_progress = cmd->add_flag("-p,--progress", a->progress, "Show progress on a terminal (default unless -q/-Q)");
  cmd->add_option("--cid-base", a->cid_base, "Multibase of printed CIDs: base32, base36, base58btc, base16, ... (v0 becomes v1 unless base58btc)");
  cmd->add_flag("--preserve-mode", a->preserve_mode, "Store file and directory permissions as UnixFS 1.5 metadata");
  cmd->add_flag("--preserve-mtime", a->preserve_mtime, "Store modification times as UnixFS 1.5 metadata");
  cmd->callback([&ctx, a] { RunAdd(ctx, *a); });
}

}  // namespace ipfskit::cli
