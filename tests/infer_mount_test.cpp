// /infer through a real mount: a tiny random BERT built by PyTorch, added with the CLI, fed by
// writing files; the .npy results must match PyTorch's pooled, normalised output.
#include <fcntl.h>
#include <unistd.h>

#include <lmdb.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/support/mount_fixture.h"

namespace ipfskit::testing {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Parses a NumPy v1.0 float32 (N, D) array.
std::vector<float> ParseNpy(const std::string& b, int* n, int* d) {
  EXPECT_EQ(b.substr(0, 6), "\x93NUMPY");
  if (b.size() < 10) {
    ADD_FAILURE() << "not a .npy file: " << b.size() << " bytes";
    return {};
  }
  uint16_t hlen = static_cast<uint8_t>(b[8]) | (static_cast<uint8_t>(b[9]) << 8);
  std::string header = b.substr(10, hlen);
  EXPECT_NE(header.find("'<f4'"), std::string::npos) << header;
  sscanf(header.c_str() + header.find("'shape': (") + 10, "%d, %d", n, d);
  std::vector<float> v((b.size() - 10 - hlen) / 4);
  std::memcpy(v.data(), b.data() + 10 + hlen, v.size() * 4);
  return v;
}

// The directory holding the repo's LMDB environment (data.mdb).
std::string LmdbDir(const std::string& repo) {
  for (const auto& e : fs::recursive_directory_iterator(repo))
    if (e.path().filename() == "data.mdb") return e.path().parent_path().string();
  ADD_FAILURE() << "no data.mdb under " << repo;
  return repo;
}

// Holds the LMDB write lock of a repo from this process (the daemon is another one), so that
// the daemon cannot store anything, a job's results included, until Release(). A write txn
// belongs to the thread that began it, hence the thread; it gives up after 30 s rather than
// hang the test if the daemon needed the lock for something the test waits on.
class RepoWriteLock {
 public:
  explicit RepoWriteLock(const std::string& env_dir) {
    thread_ = std::thread([this, env_dir] {
      MDB_env* env = nullptr;
      MDB_txn* txn = nullptr;
      int rc = mdb_env_create(&env);
      if (!rc) rc = mdb_env_set_maxdbs(env, 16);
      if (!rc) rc = mdb_env_open(env, env_dir.c_str(), MDB_NOTLS, 0644);
      if (!rc) rc = mdb_txn_begin(env, nullptr, 0, &txn);
      std::unique_lock<std::mutex> lk(mu_);
      rc_ = rc;
      taken_ = true;
      cv_.notify_all();
      cv_.wait_for(lk, std::chrono::seconds(30), [&] { return released_; });
      if (txn) mdb_txn_abort(txn);
      if (env) mdb_env_close(env);
    });
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return taken_; });
  }
  ~RepoWriteLock() { Release(); }
  int rc() const { return rc_; }
  void Release() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      released_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool taken_ = false, released_ = false;
  int rc_ = 0;
  std::thread thread_;
};

// The job is queued when its writer closes it (FUSE flush, which close() waits for), so the
// result is there, blocking until the job is done, as soon as close() has returned.
std::string ReadResult(const std::string& path) {
  EXPECT_TRUE(fs::exists(path)) << path << " missing right after its job was closed";
  return ReadAll(path);
}

// The model's test sentences (make_bert.py's inputs.txt), one per line.
std::vector<std::string> InputLines(const std::string& model_dir) {
  std::vector<std::string> lines;
  std::istringstream in(ReadAll(model_dir + "/inputs.txt"));
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

class InferMount : public MountFixture {
 protected:
  using Model = BertModel;
  Model MakeModel(const std::string& name, const std::string& flags) { return MakeBertModel(name, flags); }
  float MaxErr(const std::vector<float>& a, const std::vector<float>& b) {
    EXPECT_EQ(a.size(), b.size());
    float e = 0;
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) e = std::max(e, std::fabs(a[i] - b[i]));
    return e;
  }
};

TEST_F(InferMount, EmbeddingsMatchPyTorchForMeanAndClsPooling) {
  Model mean = MakeModel("mean", "--pooling mean --seed 11 --sentences 30");
  Model cls = MakeModel("cls", "--pooling cls --seed 12 --sentences 30");
  Mount();
  for (Model* m : {&mean, &cls}) {
    std::string dir = mnt_ + "/infer/" + m->cid;
    auto info = nlohmann::json::parse(ReadAll(dir + "/model.json"));
    EXPECT_EQ(info["pooling"], m == &mean ? "mean" : "cls");
    ShOk("cp '" + m->dir + "/inputs.txt' '" + dir + "/job'");
    int n = 0, d = 0;
    auto got = ParseNpy(ReadResult(dir + "/job.npy"), &n, &d);
    EXPECT_EQ(n, m->n);
    EXPECT_EQ(d, m->dim);
    EXPECT_LE(MaxErr(got, m->expected), 1e-4f);
    // .jsonl: one object per input with index, embedding, tokens, truncated.
    std::istringstream jl(ReadAll(dir + "/job.jsonl"));
    int lines = 0;
    for (std::string line; std::getline(jl, line); ++lines) {
      auto j = nlohmann::json::parse(line);
      EXPECT_EQ(j["index"], lines);
      EXPECT_EQ(j["embedding"].size(), size_t(d));
      EXPECT_GT(j["tokens"].get<int>(), 2);
      EXPECT_TRUE(j["truncated"].is_boolean());
    }
    EXPECT_EQ(lines, m->n);
    // Results are content-addressed in the repo.
    std::string cid = ShOk("getfattr --only-values -n user.ipfs.cid '" + dir + "/job.npy' 2>/dev/null");
    EXPECT_EQ(ShOk(Cli("cat " + cid) + " | md5sum"), ShOk("md5sum < '" + dir + "/job.npy'"));
    // The CLI gives the same bytes without a mount.
    EXPECT_EQ(ShOk(Cli("infer " + m->cid + " --format npy < '" + m->dir + "/inputs.txt' | md5sum")),
              ShOk("md5sum < '" + dir + "/job.npy'"));
  }
}

TEST_F(InferMount, ConcurrentWritersGetTheirOwnResults) {
  Model m = MakeModel("conc", "--seed 13 --sentences 24");
  Mount();
  std::string dir = mnt_ + "/infer/" + m.cid;
  const std::vector<std::string> lines = InputLines(m.dir);
  std::vector<std::thread> ts;
  std::vector<float> errs(6, 1.0f);
  for (int t = 0; t < 6; ++t) {
    ts.emplace_back([&, t] {
      // Writer t takes inputs t, t+6, t+12, ...
      std::string text;
      std::vector<float> want;
      for (size_t i = t; i < lines.size(); i += 6) {
        text += lines[i] + "\n";
        want.insert(want.end(), m.expected.begin() + i * m.dim, m.expected.begin() + (i + 1) * m.dim);
      }
      std::string job = dir + "/w" + std::to_string(t);
      { std::ofstream(job) << text; }
      int n = 0, d = 0;
      auto got = ParseNpy(ReadResult(job + ".npy"), &n, &d);
      errs[t] = got.size() == want.size() ? MaxErr(got, want) : 1.0f;
    });
  }
  for (auto& t : ts) t.join();
  for (float e : errs) EXPECT_LE(e, 1e-4f);
}

TEST_F(InferMount, RewrittenJobGivesTheNewResultRightAfterClose) {
  Model m = MakeModel("rewrite", "--seed 14 --sentences 2");
  Mount();
  std::string dir = mnt_ + "/infer/" + m.cid;
  const std::vector<std::string> lines = InputLines(m.dir);
  ASSERT_EQ(lines.size(), 2u);
  // One job name written again and again with alternating inputs, its .npy opened the moment
  // close() returns: never missing (ENOENT), never the previous input's result. Other readers
  // keep the mount's threads busy, as a loaded machine does (the release of a closed file
  // then comes late).
  std::atomic<bool> stop{false};
  std::vector<std::thread> busy;
  for (int t = 0; t < 4; ++t)
    busy.emplace_back([&] {
      while (!stop) (void)ReadAll(dir + "/model.json");
    });
  struct Join {
    std::atomic<bool>& stop;
    std::vector<std::thread>& ts;
    ~Join() {
      stop = true;
      for (auto& t : ts) t.join();
    }
  } join{stop, busy};
  for (int i = 0; i < 200; ++i) {
    const int k = i % 2;
    { std::ofstream(dir + "/again") << lines[k] << "\n"; }
    int fd = ::open((dir + "/again.npy").c_str(), O_RDONLY);
    ASSERT_GE(fd, 0) << "round " << i << ": " << std::strerror(errno);
    std::string bytes;
    char buf[4096];
    for (ssize_t r; (r = ::read(fd, buf, sizeof buf)) > 0;) bytes.append(buf, static_cast<size_t>(r));
    ::close(fd);
    int n = 0, d = 0;
    auto got = ParseNpy(bytes, &n, &d);
    ASSERT_EQ(n, 1) << "round " << i;
    std::vector<float> want(m.expected.begin() + k * m.dim, m.expected.begin() + (k + 1) * m.dim);
    EXPECT_LE(MaxErr(got, want), 1e-4f) << "round " << i;
  }
}

TEST_F(InferMount, BadModelAndBadInputGiveErrorFiles) {
  Model m = MakeModel("good", "--seed 14 --sentences 3");
  // A folder whose weights are missing a tensor's bytes: the header claims more than is there.
  std::string bad = data_ + "/bad";
  fs::copy(m.dir, bad, fs::copy_options::recursive);
  fs::resize_file(bad + "/model.safetensors", fs::file_size(bad + "/model.safetensors") - 100);
  std::string bad_cid = ShOk(Cli("add -Qr '" + bad + "'"));
  Mount();
  std::string bdir = mnt_ + "/infer/" + bad_cid;
  ShOk("echo hello > '" + bdir + "/job'");
  std::string out;
  // Once failed, the results are gone from the listing and .error holds the reason.
  EXPECT_NE(Sh("cat '" + bdir + "/job.npy'", &out), 0);
  EXPECT_NE(out.find("Input/output error"), std::string::npos) << out;
  std::string err = ShOk("cat '" + bdir + "/job.error'");
  EXPECT_NE(err.find("safetensors"), std::string::npos) << err;
  // Not a model at all, and not a CID.
  std::string plain = ShOk("echo text | " + Cli("add -Q"));
  ShOk("echo hello > '" + mnt_ + "/infer/" + plain + "/job'");
  EXPECT_FALSE(ShOk("cat '" + mnt_ + "/infer/" + plain + "/job.error'").empty());
  EXPECT_NE(Sh("ls '" + mnt_ + "/infer/not-a-model'", &out), 0);
  // An input line over the limit fails the job with a reason naming the line.
  std::string dir = mnt_ + "/infer/" + m.cid;
  ShOk("python3 -c \"print('ok'); print('x' * (2 << 20))\" > '" + dir + "/big'");
  EXPECT_NE(ShOk("cat '" + dir + "/big.error'").find("line 2"), std::string::npos);
  // Result names are reserved; results are read-only.
  EXPECT_NE(Sh("echo x > '" + dir + "/nope.npy'", &out), 0);
  // A daemon that survived all this still answers.
  ShOk("echo fine > '" + dir + "/after'");
  EXPECT_FALSE(ShOk("cat '" + dir + "/after.jsonl'").empty());
}

TEST_F(InferMount, AliasFromConfigAndNonBlockingRead) {
  Model m = MakeModel("alias", "--seed 15 --sentences 3");
  { std::ofstream(repo_ + "/config.json") << R"({"infer": {"aliases": {"tiny": ")" << m.cid << "\"}}}"; }
  Mount();
  EXPECT_NE(ShOk("ls '" + mnt_ + "/infer'").find("tiny"), std::string::npos);
  auto info = nlohmann::json::parse(ReadAll(mnt_ + "/infer/tiny/model.json"));
  EXPECT_EQ(info["hidden_size"], 64);
  std::string dir = mnt_ + "/infer/tiny";
  // With the store locked the job cannot finish, so the non-blocking open must say "try again".
  RepoWriteLock lock(LmdbDir(repo_));
  ASSERT_EQ(lock.rc(), 0) << mdb_strerror(lock.rc());
  ShOk("cp '" + m.dir + "/inputs.txt' '" + dir + "/j'");
  // The job is queued on release, which the kernel sends after close() returns.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!fs::exists(dir + "/j.npy") && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(fs::exists(dir + "/j.npy")) << "the job was never queued";
  int fd = ::open((dir + "/j.npy").c_str(), O_RDONLY | O_NONBLOCK);
  int open_errno = errno;
  if (fd >= 0) ::close(fd);
  EXPECT_LT(fd, 0) << "a job that cannot finish opened without blocking";
  EXPECT_EQ(open_errno, EAGAIN) << std::strerror(open_errno);
  // Once the results can be stored, a blocking read waits for them.
  lock.Release();
  int n = 0, d = 0;
  auto got = ParseNpy(ReadAll(dir + "/j.npy"), &n, &d);
  EXPECT_LE(MaxErr(got, m.expected), 1e-4f);
}

}  // namespace
}  // namespace ipfskit::testing
