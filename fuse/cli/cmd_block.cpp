// block get|put|stat and init/version.
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <iterator>

#include "fuse/cli/cli.h"

namespace ipfskit::cli {

namespace {
Result<Bytes> ReadAllInput(const std::string& path) {
  Bytes data;
  if (path.empty() || path == "-") {
    std::vector<uint8_t> buf(1 << 16);
    ssize_t n;
    while ((n = ::read(STDIN_FILENO, buf.data(), buf.size())) > 0) data.insert(data.end(), buf.begin(), buf.begin() + n);
    if (n < 0) return MakeError(Errc::kIo, "reading standard input failed");
    return data;
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) return MakeError(Errc::kNotFound, path + ": cannot open");
  data.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return data;
}
// Resolves a CID[/path] argument and fetches its block from the repo or the sources.
Result<std::pair<Cid, Block>> FetchBlock(Context& ctx, const std::string& text) {
  IPFSKIT_ASSIGN_OR_RETURN(Cid cid, ResolveIpfsPath(ctx, text));
  IPFSKIT_ASSIGN_OR_RETURN(auto blocks, ctx.Blocks());
  IPFSKIT_ASSIGN_OR_RETURN(Block blk, blocks->Get(cid));
  return std::make_pair(std::move(cid), std::move(blk));
}

}  // namespace

void RegisterInitCommand(CLI::App& app, Context& ctx) {
  auto* init = app.add_subcommand("init", "Initialise the ipfskit repo ($IPFSKIT_PATH or ~/.local/share/ipfskit).");
  init->footer("Fails, as Kubo's `ipfs init` does, when the repo already exists.");
  init->callback([&ctx] {
    auto r = ctx.InitRepo();
    if (!r.ok()) return ctx.Fail(r.error());
    std::cout << "initialized ipfskit repo at " << (*r)->path() << "\n";
  });
  auto* version = app.add_subcommand("version", "Show the ipfskit version.");
  version->callback([&ctx] {
    if (ctx.global.json)
      std::cout << nlohmann::json{{"Version", IPFSKIT_VERSION}, {"Repo", std::to_string(Repo::kVersion)}}.dump() << "\n";
    else
      std::cout << "ipfskit version " << IPFSKIT_VERSION << "\n";
  });
}

void RegisterBlockCommands(CLI::App& app, Context& ctx) {
  auto* block = app.add_subcommand("block", "Interact with raw blocks (as `ipfs block`).");
  block->require_subcommand(1);
  {
    auto cid_text = std::make_shared<std::string>();
    auto* get = block->add_subcommand("get", "Write the raw bytes of a block to standard output.");
    get->add_option("cid", *cid_text)->required();
    get->callback([&ctx, cid_text] {
      auto got = FetchBlock(ctx, *cid_text);
      if (!got.ok()) return ctx.Fail(got.error());
      auto& [cid, blk] = *got;
      std::cout.write(reinterpret_cast<const char*>(blk.data().data()), blk.size());
    });
  }
  {
    auto path = std::make_shared<std::string>();
    auto codec_name = std::make_shared<std::string>("raw");
    auto mhtype = std::make_shared<std::string>("sha2-256");
    auto pin = std::make_shared<bool>(false);
    auto* put = block->add_subcommand("put", "Store a block read from FILE or standard input; prints its CID.");
    put->add_option("file", *path, "File with the block's bytes ('-' or none for stdin)");
    put->add_option("--cid-codec", *codec_name, "Multicodec of the block (default raw)");
    put->add_option("--mhtype", *mhtype, "Multihash type (default sha2-256)");
    put->add_flag("--pin", *pin, "Pin the block directly");
    put->callback([&ctx, path, codec_name, mhtype, pin] {
      auto data = ReadAllInput(*path);
      if (!data.ok()) return ctx.Fail(data.error());
      if (data->size() > 2 * 1024 * 1024) return ctx.Fail("block over the 2 MiB limit");
      auto cdc = ParseCodecName(*codec_name);
      if (!cdc.ok()) return ctx.Fail(cdc.error());
      auto mh = ParseMultihashName(*mhtype);
      if (!mh.ok()) return ctx.Fail(mh.error());
      auto cid = Cid::Sum(1, *cdc, *mh, *data);
      if (!cid.ok()) return ctx.Fail(cid.error());
      auto repo = ctx.OpenRepo();
      if (!repo.ok()) return ctx.Fail(repo.error());
      Status st = (*repo)->Put(*cid, *data);
      if (st.ok() && *pin) st = (*repo)->Pin(*cid, PinType::kDirect);
      if (!st.ok()) return ctx.Fail(st.error());
      if (ctx.global.json)
        std::cout << nlohmann::json{{"Key", cid->ToString()}, {"Size", data->size()}}.dump() << "\n";
      else
        std::cout << cid->ToString() << "\n";
    });
  }
  {
    auto cids = std::make_shared<std::vector<std::string>>();
    auto* rm = block->add_subcommand("rm", "Remove blocks from the repo (pins are not checked, as in Kubo).");
    rm->add_option("cid", *cids)->required();
    rm->callback([&ctx, cids] {
      auto repo = ctx.OpenRepo();
      if (!repo.ok()) return ctx.Fail(repo.error());
      for (const auto& t : *cids) {
        auto cid = Cid::Parse(t);
        if (!cid.ok()) return ctx.Fail(cid.error());
        if (!(*repo)->Has(*cid)) return ctx.Fail(t + ": block not found");
        Status st = (*repo)->Delete(*cid);
        if (!st.ok()) return ctx.Fail(st.error());
        std::cout << "removed " << cid->ToString() << "\n";
      }
    });
  }
  {
    auto cid_text = std::make_shared<std::string>();
    auto* stat = block->add_subcommand("stat", "Print the size of a block: Key and Size.");
    stat->add_option("cid", *cid_text)->required();
    stat->callback([&ctx, cid_text] {
      auto got = FetchBlock(ctx, *cid_text);
      if (!got.ok()) return ctx.Fail(got.error());
      auto& [cid, blk] = *got;
      if (ctx.global.json)
        std::cout << nlohmann::json{{"Key", cid.ToString()}, {"Size", blk.size()}}.dump() << "\n";
      else
        std::cout << "Key: " << cid.ToString() << "\nSize: " << blk.size() << "\n";
    });
  }
}

}  // namespace ipfskit::cli
