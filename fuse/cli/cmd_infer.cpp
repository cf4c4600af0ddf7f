// `ipfskit infer MODEL [FILE|-] [--format jsonl|npy]`: the /infer job without a mount.
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <iterator>

#include "accel/backends.h"
#include "core/infer/engine.h"
#include "core/infer/unixfs_model_files.h"
#include "fuse/cli/cli.h"

namespace ipfskit::cli {

void RegisterInferCommand(CLI::App& app, Context& ctx) {
  auto model = std::make_shared<std::string>();
  auto file = std::make_shared<std::string>("-");
  auto format = std::make_shared<std::string>("jsonl");
  auto info_only = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("infer", "Embed text with a BERT-family model stored in IPFS (as /infer does).");
  cmd->footer(
      "MODEL is the CID of a sentence-transformers folder (added with `ipfskit add -r`) or an alias\n"
      "from the config (\"infer\": {\"aliases\": {\"minilm\": \"bafy...\"}}). Input: UTF-8 text, one input\n"
      "per line, or JSON lines with a \"text\" field. Output on stdout: JSON lines\n"
      "{\"index\",\"embedding\",\"tokens\",\"truncated\"} or a float32 N x D .npy array.");
  cmd->add_option("model", *model, "Model CID or alias")->required();
  cmd->add_option("file", *file, "Input file ('-' for stdin)");
  cmd->add_option("--format", *format, "jsonl (default) or npy")->check(CLI::IsMember({"jsonl", "npy"}));
  cmd->add_flag("--info", *info_only, "Print the model's description (model.json) and exit");
  cmd->callback([&ctx, model, file, format, info_only] {
    auto reader = ctx.Reader();
    if (!reader.ok()) return ctx.Fail(reader.error());
    auto cfg = ctx.LoadConfiguration();
    if (!cfg.ok()) return ctx.Fail(cfg.error());
    std::map<std::string, std::string> aliases;
    if (cfg->raw.contains("infer") && cfg->raw["infer"].contains("aliases"))
      for (auto it = cfg->raw["infer"]["aliases"].begin(); it != cfg->raw["infer"]["aliases"].end(); ++it)
        if (it.value().is_string()) aliases[it.key()] = it.value().get<std::string>();
    // The reader is owned by the context; share it without taking ownership.
    std::shared_ptr<UnixfsReader> shared(*reader, [](UnixfsReader*) {});
    infer::InferenceEngine engine(accel::MakeDefaultBackend(), infer::MakeUnixfsModelLoader(shared, aliases));
    auto info = engine.GetModel(*model);
    if (!info.ok()) return ctx.Fail(*model + ": " + info.error().message);
    if (*info_only) {
      std::cout << info->ToJson() << "\n";
      return;
    }
    std::string text;
    if (*file == "-") {
      text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else {
      std::ifstream in(*file, std::ios::binary);
      if (!in) return ctx.Fail(*file + ": cannot open");
      text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    auto inputs = infer::ParseJobInput(text, engine.limits());
    if (!inputs.ok()) return ctx.Fail(inputs.error());
    auto r = engine.Submit(*model, std::move(*inputs)).get();
    if (!r.ok()) return ctx.Fail(r.error());
    if (*format == "npy") {
      Bytes npy = infer::RenderNpy(*r);
      std::cout.write(reinterpret_cast<const char*>(npy.data()), npy.size());
    } else {
      std::cout << infer::RenderJsonl(*r);
    }
  });
}

}  // namespace ipfskit::cli
