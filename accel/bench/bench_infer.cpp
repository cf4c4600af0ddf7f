// Inference throughput: one job with every line of INPUTS through the InferenceEngine (tokenise,
// batch by token budget, forward, pool), after a warm-up job, N times. Prints one JSON line: "seconds"
// is the best of the N, "median_seconds" their median.
//   ipfskit_bench_infer MODEL_DIR INPUTS [--backend cpu|cuda] [--threads N] [--gemm openblas|onednn]
//                       [--budget TOKENS] [--repeat N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "accel/backends.h"
#include "core/infer/engine.h"

using namespace ipfskit;
using namespace ipfskit::infer;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL_DIR INPUTS [--backend cpu|cuda] [--threads N] "
                         "[--gemm openblas|onednn] [--budget TOKENS] [--repeat N]\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1], inputs_path = argv[2], backend_name = "cpu";
  accel::CpuOptions cpu;
  EngineLimits limits;
  int repeat = 1;
  for (int i = 3; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--backend") backend_name = v;
    else if (k == "--threads") cpu.threads = std::stoi(v);
    else if (k == "--gemm") cpu.gemm = v == "onednn" ? accel::CpuGemm::kOneDnn : accel::CpuGemm::kOpenBlas;
    else if (k == "--budget") limits.batch_token_budget = std::stoul(v);
    else if (k == "--repeat") repeat = std::stoi(v);
  }
  std::shared_ptr<Backend> backend;
  if (backend_name == "cuda") {
    auto b = accel::MakeCudaBackend();
    if (!b.ok()) {
      std::fprintf(stderr, "cuda: %s\n", b.error().message.c_str());
      return 1;
    }
    backend = *b;
  } else {
    backend = accel::MakeCpuBackend(cpu);
  }
  std::ifstream f(inputs_path);
  std::stringstream ss;
  ss << f.rdbuf();
  auto inputs = ParseJobInput(ss.str(), limits);
  if (!inputs.ok()) {
    std::fprintf(stderr, "%s\n", inputs.error().message.c_str());
    return 1;
  }
  InferenceEngine engine(backend, [dir](const std::string&) {
    DirectoryModelFiles files(dir);
    return LoadBertModel(files);
  }, limits);
  auto info = engine.GetModel("m");
  if (!info.ok()) {
    std::fprintf(stderr, "%s\n", info.error().message.c_str());
    return 1;
  }
  std::vector<std::string> warm(inputs->begin(), inputs->begin() + std::min<size_t>(256, inputs->size()));
  if (auto w = engine.Submit("m", warm).get(); !w.ok()) {
    std::fprintf(stderr, "%s\n", w.error().message.c_str());
    return 1;
  }
  double best = 1e30;
  std::vector<double> times;
  size_t tokens = 0;
  for (int r = 0; r < repeat; r++) {
    auto t0 = std::chrono::steady_clock::now();
    auto res = engine.Submit("m", *inputs).get();
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!res.ok()) {
      std::fprintf(stderr, "%s\n", res.error().message.c_str());
      return 1;
    }
    tokens = 0;
    for (auto t : res->token_counts) tokens += t;
    best = std::min(best, dt);
    times.push_back(dt);
  }
  std::sort(times.begin(), times.end());
  nlohmann::json out = {{"engine", "ipfskit"},
                        {"backend", backend->Describe()},
                        {"precision", backend->precision()},
                        {"sentences", inputs->size()},
                        {"tokens", tokens},
                        {"seconds", best},
                        {"median_seconds", times[times.size() / 2]},
                        {"sentences_per_s", inputs->size() / best},
                        {"tokens_per_s", tokens / best},
                        {"batch_token_budget", limits.batch_token_budget}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
