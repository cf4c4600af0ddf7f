#include "fuse/areas/infer_area.h"

#include <fcntl.h>
#include <syslog.h>

#include <chrono>
#include <condition_variable>
#include <cstring>

#include "core/importer/importer.h"
#include "core/infer/unixfs_model_files.h"

namespace ipfskit::fs {
namespace {

enum class JobState { kWriting, kQueued, kDone, kFailed };
enum class ResultKind { kJsonl, kNpy, kError };

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

struct Job;

// Collects an import's blocks for the ResultWriter.
class CollectSink : public BlockSink {
 public:
  Status Put(const Cid& cid, ByteView data, bool) override {
    blocks.emplace_back(cid, Bytes(data.begin(), data.end()));
    return Status::Ok();
  }
  Status Flush() override { return Status::Ok(); }
  std::vector<std::pair<Cid, Bytes>> blocks;
};

// One input file and its results. Generation counts rewrites of the same name, so a callback
// from an older submission cannot overwrite a newer job's results.
struct Job {
  std::string name;
  std::mutex mu;
  std::condition_variable cv;
  JobState state = JobState::kWriting;
  uint64_t generation = 0;
  Bytes input;
  std::string jsonl, error;
  Bytes npy;
  Cid jsonl_cid, npy_cid;
  bool stored = false;  // the results' blocks are committed to the repo (or that failed)
  timespec mtime{};
  std::shared_ptr<Node> input_node, jsonl_node, npy_node, error_node;
};

timespec Now() {
  timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return t;
}

class JobWriteFile : public OpenFile {
 public:
  JobWriteFile(std::shared_ptr<InferContext> ctx, std::string model, std::shared_ptr<Job> job, bool truncate)
      : ctx_(std::move(ctx)), model_(std::move(model)), job_(std::move(job)) {
    direct_io = true;
    std::lock_guard<std::mutex> lk(job_->mu);
    if (truncate || job_->state != JobState::kWriting) Restart();
  }
  Result<size_t> Read(uint64_t offset, std::span<uint8_t> out) override {
    std::lock_guard<std::mutex> lk(job_->mu);
    if (offset >= job_->input.size()) return size_t{0};
    size_t n = std::min<uint64_t>(out.size(), job_->input.size() - offset);
    std::memcpy(out.data(), job_->input.data() + offset, n);
    return n;
  }
  Result<size_t> Write(uint64_t offset, ByteView data) override {
    std::lock_guard<std::mutex> lk(job_->mu);
    if (job_->state != JobState::kWriting) {
      // Written again after this handle's flush (a dup'ed descriptor closed): the input goes
      // on where it was and the job is submitted again. Else someone else's job: start over.
      if (submitted_) Reopen();
      else Restart();
    }
    if (offset + data.size() > ctx_->service->limits().max_job_bytes)
      return MakeError(Errc::kNoSpace, "job input over the limit");
    if (job_->input.size() < offset + data.size()) job_->input.resize(offset + data.size());
    std::memcpy(job_->input.data() + offset, data.data(), data.size());
    job_->mtime = Now();
    dirty_ = true;
    return data.size();
  }
  // The job is submitted at close (FLUSH, which close() waits for), not at RELEASE, which the
  // kernel sends after close() has returned: a reader that opens the result right after
  // closing the input must find the job queued, not still being written (ENOENT).
  Status Flush() override {
    if (dirty_) {
      dirty_ = false;
      submitted_ = true;
      Submit(ctx_, model_, job_);
    }
    return Status::Ok();
  }
  Status Release() override { return Flush(); }

  // Parses the input and queues it; results or the error land in the job.
  static void Submit(const std::shared_ptr<InferContext>& ctx, const std::string& model, const std::shared_ptr<Job>& job) {
    std::unique_lock<std::mutex> lk(job->mu);
    uint64_t gen = ++job->generation;
    job->state = JobState::kQueued;
    std::string text(AsChars(job->input));
    lk.unlock();
    auto fail = [job, gen, model](const std::string& why) {
      syslog(LOG_ERR, "ipfskit: /infer/%s/%s failed: %s", model.c_str(), job->name.c_str(), why.c_str());
      std::lock_guard<std::mutex> l(job->mu);
      if (job->generation != gen) return;
      job->state = JobState::kFailed;
      job->error = why;
      job->mtime = Now();
      job->cv.notify_all();
    };
    auto inputs = infer::ParseJobInput(text, ctx->service->limits());
    if (!inputs.ok()) return fail(inputs.error().message);
    std::weak_ptr<InferContext> wctx = ctx;
    Status st = ctx->service->Submit(model, std::move(*inputs), [job, gen, fail, wctx](Result<infer::EmbeddingResult> r) {
      if (!r.ok()) return fail(r.error().message);
      std::string jsonl = infer::RenderJsonl(*r);
      Bytes npy = infer::RenderNpy(*r);
      auto c = wctx.lock();
      const bool store = c && c->writer;
      {
        std::lock_guard<std::mutex> l(job->mu);
        if (job->generation != gen) return;
        job->jsonl = jsonl;  // copies: the originals are imported below, after readers are woken
        job->npy = npy;
        job->stored = !store;  // nothing to wait for
        job->state = JobState::kDone;
        job->mtime = Now();
      }
      job->cv.notify_all();
      if (!store) return;
      // Results are content-addressed in the repo, as everything else is: their CIDs computed
      // here, their blocks committed by the writer (user.ipfs.cid waits for both).
      CollectSink sink;
      ImportOptions o;
      o.cid_version = 1;
      o.raw_leaves = true;
      auto a = ImportBytes(AsBytes(jsonl), o, &sink);
      auto b = ImportBytes(npy, o, &sink);
      {
        std::lock_guard<std::mutex> l(job->mu);
        if (job->generation != gen) return;
        if (!a.ok() || !b.ok()) {
          job->stored = true;  // no CIDs to give
          job->cv.notify_all();
          return;
        }
        job->jsonl_cid = a->cid;
        job->npy_cid = b->cid;
      }
      c->writer->Add(std::move(sink.blocks), [job, gen](bool ok) {
        std::lock_guard<std::mutex> l(job->mu);
        if (job->generation != gen) return;
        if (!ok) job->jsonl_cid = job->npy_cid = Cid();
        job->stored = true;
        job->cv.notify_all();
      });
    });
    if (!st.ok()) fail(st.error().message);
  }

 private:
  void Restart() {  // job->mu held
    Reopen();
    job_->input.clear();
  }
  void Reopen() {  // job->mu held: back to writing, the input kept, results dropped
    ++job_->generation;
    job_->state = JobState::kWriting;
    job_->jsonl.clear();
    job_->npy.clear();
    job_->error.clear();
    job_->jsonl_cid = job_->npy_cid = Cid();
    job_->stored = false;
    job_->mtime = Now();
  }
  std::shared_ptr<InferContext> ctx_;
  std::string model_;
  std::shared_ptr<Job> job_;
  bool dirty_ = false;      // written since the last submit
  bool submitted_ = false;  // this handle has submitted the job once
};

class JobInputNode : public Node {
 public:
  JobInputNode(std::shared_ptr<InferContext> ctx, std::string model, std::weak_ptr<Job> job)
      : ctx_(std::move(ctx)), model_(std::move(model)), job_(std::move(job)), ino_(AllocateDynamicIno()) {}
  uint64_t ino() const override { return ino_; }
  double EntryTimeout() const override { return 0; }
  double AttrTimeout() const override { return 0; }
  Result<struct stat> Getattr() override {
    auto job = job_.lock();
    if (!job) return MakeError(Errc::kNotFound, "job removed");
    std::lock_guard<std::mutex> lk(job->mu);
    return MakeStat(ino_, S_IFREG | 0644, job->input.size(), ctx_->owner, job->mtime.tv_sec, job->mtime.tv_nsec);
  }
  Result<std::unique_ptr<OpenFile>> Open(int flags) override {
    auto job = job_.lock();
    if (!job) return MakeError(Errc::kNotFound, "job removed");
    return std::unique_ptr<OpenFile>(new JobWriteFile(ctx_, model_, job, (flags & O_TRUNC) != 0));
  }
  Result<struct stat> Setattr(const SetattrRequest& req) override {
    auto job = job_.lock();
    if (!job) return MakeError(Errc::kNotFound, "job removed");
    if (req.size) {
      std::lock_guard<std::mutex> lk(job->mu);
      if (*req.size > ctx_->service->limits().max_job_bytes) return MakeError(Errc::kNoSpace, "job input over the limit");
      job->input.resize(*req.size);
    }
    return Getattr();
  }

 private:
  std::shared_ptr<InferContext> ctx_;
  std::string model_;
  std::weak_ptr<Job> job_;
  uint64_t ino_;
};

class ResultFile : public OpenFile {
 public:
  ResultFile(std::string content) : content_(std::move(content)) { direct_io = true; }
  Result<size_t> Read(uint64_t offset, std::span<uint8_t> out) override {
    if (offset >= content_.size()) return size_t{0};
    size_t n = std::min<uint64_t>(out.size(), content_.size() - offset);
    std::memcpy(out.data(), content_.data() + offset, n);
    return n;
  }

 private:
  std::string content_;
};

class ResultNode : public Node {
 public:
  ResultNode(std::shared_ptr<InferContext> ctx, std::weak_ptr<Job> job, ResultKind kind)
      : ctx_(std::move(ctx)), job_(std::move(job)), kind_(kind), ino_(AllocateDynamicIno()) {}
  uint64_t ino() const override { return ino_; }
  double EntryTimeout() const override { return 0; }
  double AttrTimeout() const override { return 0; }

  Result<struct stat> Getattr() override {
    auto job = job_.lock();
    if (!job) return MakeError(Errc::kNotFound, "job removed");
    std::lock_guard<std::mutex> lk(job->mu);
    return MakeStat(ino_, S_IFREG | 0444, Content(*job).size(), ctx_->owner, job->mtime.tv_sec, job->mtime.tv_nsec);
  }
  Result<std::unique_ptr<OpenFile>> Open(int flags) override {
    if ((flags & O_ACCMODE) != O_RDONLY) return MakeError(Errc::kReadOnly, "results are read-only");
    auto job = job_.lock();
    if (!job) return MakeError(Errc::kNotFound, "job removed");
    std::unique_lock<std::mutex> lk(job->mu);
    if (kind_ != ResultKind::kError) {
      if ((flags & O_NONBLOCK) && Pending(*job)) return MakeError(Errc::kWouldBlock, "job not done yet");
      // Blocks until the job finishes; the service always completes a queued job.
      job->cv.wait(lk, [&] { return !Pending(*job); });
      if (job->state == JobState::kFailed) return MakeError(Errc::kIo, "job failed: " + job->error);
    }
    return std::unique_ptr<OpenFile>(new ResultFile(Content(*job)));
  }
  Result<std::string> GetXattr(std::string_view name) override {
    if (name != "user.ipfs.cid") return MakeError(Errc::kNotFound, "no such attribute");
    auto job = job_.lock();
    if (!job) return MakeError(Errc::kNotFound, "job removed");
    std::unique_lock<std::mutex> lk(job->mu);
    // The CID is given once its blocks are in the repo, so `ipfs cat` of it works at once.
    // Bounded: the writer's commit ends (or fails) on its own; a rewrite starts a new job.
    if (!job->cv.wait_for(lk, std::chrono::seconds(60), [&] {
          return !Pending(*job) && (job->state == JobState::kFailed || job->stored);
        }))
      return MakeError(Errc::kTimeout, "result not stored yet");
    const Cid& c = kind_ == ResultKind::kJsonl ? job->jsonl_cid : job->npy_cid;
    if (kind_ == ResultKind::kError || !c.valid()) return MakeError(Errc::kNotFound, "no CID");
    return c.ToString();
  }
  std::vector<std::string> ListXattr() override {
    return kind_ == ResultKind::kError ? std::vector<std::string>{} : std::vector<std::string>{"user.ipfs.cid"};
  }

 private:
  static bool Pending(const Job& j) { return j.state == JobState::kQueued || j.state == JobState::kWriting; }
  std::string Content(const Job& j) const {
    switch (kind_) {
      case ResultKind::kJsonl: return j.jsonl;
      case ResultKind::kNpy: return std::string(AsChars(j.npy));
      case ResultKind::kError: return j.error.empty() ? "" : j.error + "\n";
    }
    return "";
  }
  std::shared_ptr<InferContext> ctx_;
  std::weak_ptr<Job> job_;
  ResultKind kind_;
  uint64_t ino_;
};

}  // namespace

class ModelDirNode : public Node {
 public:
  ModelDirNode(std::shared_ptr<InferContext> ctx, std::string key)
      : ctx_(std::move(ctx)), key_(std::move(key)), ino_(AllocateDynamicIno()) {
    auto c = ctx_;
    auto k = key_;
    model_json_ = std::make_shared<GeneratedFile>(AllocateDynamicIno(), ctx_->owner, [c, k] {
      auto info = c->service->GetModel(k);
      if (!info.ok()) {
        syslog(LOG_ERR, "ipfskit: /infer/%s: %s", k.c_str(), info.error().message.c_str());
        return nlohmann::json{{"model", k}, {"error", info.error().message}}.dump(2) + "\n";
      }
      return info->ToJson() + "\n";
    });
  }
  uint64_t ino() const override { return ino_; }
  double EntryTimeout() const override { return 0; }
  double AttrTimeout() const override { return 0; }
  Result<struct stat> Getattr() override { return MakeStat(ino_, S_IFDIR | 0755, 0, ctx_->owner); }

  Result<std::shared_ptr<Node>> Lookup(std::string_view name) override {
    if (name == "model.json") return model_json_;
    std::lock_guard<std::mutex> lk(mu_);
    if (auto it = jobs_.find(std::string(name)); it != jobs_.end()) return it->second->input_node;
    for (auto [suffix, kind] : {std::pair{".jsonl", ResultKind::kJsonl}, std::pair{".npy", ResultKind::kNpy},
                                std::pair{".error", ResultKind::kError}}) {
      if (!EndsWith(name, suffix)) continue;
      auto it = jobs_.find(std::string(name.substr(0, name.size() - std::strlen(suffix))));
      if (it == jobs_.end()) break;
      Job& j = *it->second;
      std::lock_guard<std::mutex> jl(j.mu);
      bool failed = j.state == JobState::kFailed;
      if (kind == ResultKind::kError && failed) return j.error_node;
      // Results of a failed job still resolve, so reading them says EIO rather than ENOENT.
      if (kind == ResultKind::kJsonl && j.state != JobState::kWriting) return j.jsonl_node;
      if (kind == ResultKind::kNpy && j.state != JobState::kWriting) return j.npy_node;
      break;
    }
    return MakeError(Errc::kNotFound, "no such job or result");
  }

  Result<std::vector<DirItem>> List() override {
    std::vector<DirItem> items{{"model.json", model_json_}};
    std::lock_guard<std::mutex> lk(mu_);
    for (auto& [name, job] : jobs_) {
      items.push_back({name, job->input_node});
      std::lock_guard<std::mutex> jl(job->mu);
      if (job->state == JobState::kWriting) continue;
      if (job->state == JobState::kFailed) {
        items.push_back({name + ".error", job->error_node});
      } else {
        items.push_back({name + ".jsonl", job->jsonl_node});
        items.push_back({name + ".npy", job->npy_node});
      }
    }
    return items;
  }

  Result<std::pair<std::shared_ptr<Node>, std::unique_ptr<OpenFile>>> Create(std::string_view name, uint32_t mode,
                                                                             int flags, const Caller&) override {
    if (name == "model.json" || EndsWith(name, ".jsonl") || EndsWith(name, ".npy") || EndsWith(name, ".error"))
      return MakeError(Errc::kInvalidArgument, "that name is reserved for results");
    std::lock_guard<std::mutex> lk(mu_);
    auto& job = jobs_[std::string(name)];
    if (job && (flags & O_EXCL)) return MakeError(Errc::kExists, "job exists");
    if (!job) job = NewJob(std::string(name));
    std::unique_ptr<OpenFile> f(new JobWriteFile(ctx_, key_, job, true));
    return std::make_pair(job->input_node, std::move(f));
  }

  Status Unlink(std::string_view name) override {
    std::lock_guard<std::mutex> lk(mu_);
    std::string base(name);
    for (const char* suffix : {".jsonl", ".npy", ".error"})
      if (EndsWith(name, suffix) && jobs_.count(base.substr(0, base.size() - std::strlen(suffix))))
        base = base.substr(0, base.size() - std::strlen(suffix));
    if (!jobs_.erase(base)) return MakeError(Errc::kNotFound, "no such job");
    return Status::Ok();
  }

 private:
  std::shared_ptr<Job> NewJob(std::string name) {
    auto job = std::make_shared<Job>();
    job->name = name;
    job->mtime = Now();
    job->input_node = std::make_shared<JobInputNode>(ctx_, key_, job);
    job->jsonl_node = std::make_shared<ResultNode>(ctx_, job, ResultKind::kJsonl);
    job->npy_node = std::make_shared<ResultNode>(ctx_, job, ResultKind::kNpy);
    job->error_node = std::make_shared<ResultNode>(ctx_, job, ResultKind::kError);
    return job;
  }

  std::shared_ptr<InferContext> ctx_;
  std::string key_;
  uint64_t ino_;
  std::shared_ptr<Node> model_json_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Job>> jobs_;
};

ResultWriter::ResultWriter(std::shared_ptr<Repo> repo) : repo_(std::move(repo)) {
  thread_ = std::thread([this] { Loop(); });
}

ResultWriter::~ResultWriter() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void ResultWriter::Add(std::vector<std::pair<Cid, Bytes>> blocks, std::function<void(bool)> done) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    queue_.push_back(Item{std::move(blocks), std::move(done)});
  }
  cv_.notify_one();
}

void ResultWriter::Loop() {
  for (;;) {
    std::vector<Item> batch;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, all committed
      batch.swap(queue_);
    }
    // Everything finished while the last commit ran goes in this one.
    auto w = repo_->NewWriter();
    Status st;
    for (const Item& it : batch)
      for (const auto& [cid, data] : it.blocks)
        if (st.ok()) st = w->Put(cid, data, /*trusted=*/true);
    if (st.ok()) st = w->Flush();
    if (!st.ok()) syslog(LOG_ERR, "ipfskit: /infer: storing results failed: %s", st.error().message.c_str());
    for (Item& it : batch) it.done(st.ok());
  }
}

Result<std::shared_ptr<Node>> InferRootNode::Lookup(std::string_view name) {
  auto cid = infer::ResolveModelKey(name, ctx_->aliases);
  if (!cid.ok()) return MakeError(Errc::kNotFound, cid.error().message);
  std::lock_guard<std::mutex> lk(mu_);
  auto& dir = models_[std::string(name)];
  if (!dir) dir = std::make_shared<ModelDirNode>(ctx_, std::string(name));
  return std::shared_ptr<Node>(dir);
}

Result<std::vector<DirItem>> InferRootNode::List() {
  std::vector<DirItem> items;
  std::lock_guard<std::mutex> lk(mu_);
  for (const auto& [alias, cid] : ctx_->aliases)
    if (!models_.count(alias)) items.push_back({alias, nullptr});
  for (const auto& [name, dir] : models_) items.push_back({name, dir});
  return items;
}

}  // namespace ipfskit::fs
