// /infer/<model>/: write text in, read embeddings out.
//
//   /infer/<model>/model.json    the model's description (loads it on first read)
//   /infer/<model>/<job>         any name: write UTF-8 text, one input per line (or JSON lines
//                                with a "text" field); the job is queued when the file is closed
//   /infer/<model>/<job>.jsonl   {"index","embedding","tokens","truncated"} per input
//   /infer/<model>/<job>.npy     float32 N×D in NumPy .npy format
//   /infer/<model>/<job>.error   one line, when the job failed (its results then give EIO)
//
// <model> is a CID of a sentence-transformers folder or an alias from the config
// ("infer": {"aliases": {"minilm": "bafy…"}}). Reading a result blocks until the job is done
// (O_NONBLOCK: EAGAIN); results are served with direct_io as soon as they are computed, and
// carry user.ipfs.cid, which answers once the ResultWriter has committed them to the repo.
// Writing the job file again starts a new job under the same name. Where a job runs (here, or
// on a remote of "infer.remote") is the EmbeddingService's business, not this area's.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/infer/embedding_service.h"
#include "core/store/repo.h"
#include "fuse/areas/static_nodes.h"
#include "fuse/stats.h"

namespace ipfskit::fs {

// Stores jobs' results in the repo off the job's path: a result is readable as soon as it is
// computed, and the blocks of the results finished meanwhile share one commit (one fsync) on
// this writer's thread. Destruction commits what is queued, then stops.
class ResultWriter {
 public:
  explicit ResultWriter(std::shared_ptr<Repo> repo);
  ~ResultWriter();
  // `done(true)` runs on the writer's thread once `blocks` are committed (false: they were not).
  void Add(std::vector<std::pair<Cid, Bytes>> blocks, std::function<void(bool)> done);

 private:
  void Loop();
  struct Item {
    std::vector<std::pair<Cid, Bytes>> blocks;
    std::function<void(bool)> done;
  };
  std::shared_ptr<Repo> repo_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Item> queue_;  // guarded by mu_
  bool stop_ = false;        // guarded by mu_
  std::thread thread_;
};

struct InferContext {
  // Where jobs run: this process's engine (LocalEmbeddings) or, with "infer.remote" in the config,
  // remote `ipfskit serve --api` nodes with the local engine behind them (RemoteEmbeddings).
  std::shared_ptr<infer::EmbeddingService> service;
  std::map<std::string, std::string> aliases;
  std::shared_ptr<ResultWriter> writer;  // results are stored through it, content-addressed
  Owner owner;
};

class ModelDirNode;

class InferRootNode : public Node {
 public:
  explicit InferRootNode(std::shared_ptr<InferContext> ctx) : ctx_(std::move(ctx)) {}
  uint64_t ino() const override { return ino::kInfer; }
  Result<struct stat> Getattr() override { return MakeStat(ino::kInfer, S_IFDIR | 0555, 0, ctx_->owner); }
  Result<std::shared_ptr<Node>> Lookup(std::string_view name) override;
  Result<std::vector<DirItem>> List() override;

 private:
  std::shared_ptr<InferContext> ctx_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<ModelDirNode>> models_;
};

}  // namespace ipfskit::fs
