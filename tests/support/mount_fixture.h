// A real ipfskit mount in a temporary directory, driven through the CLI binary, for
// mount-level tests. Unmounts (lazily if needed) and removes everything on teardown.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/paths.h"

namespace ipfskit::testing {

// Runs `sh -c cmd`, returns exit status, captures stdout+stderr into *out.
int Sh(const std::string& cmd, std::string* out = nullptr);
// Like Sh but fails the test on non-zero exit; returns stdout with the trailing newline cut.
std::string ShOk(const std::string& cmd);

class MountFixture : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // `ipfskit --repo <repo> ARGS`
  std::string Cli(const std::string& args) const;
  // Mounts at mnt_ (daemonised) with extra -o options; waits until the root answers.
  void Mount(const std::string& options = "");
  void Unmount();
  bool Mounted() const;
  // The mount's /.ipfskit/stats, parsed (fails the test, and is null, when it cannot be read).
  nlohmann::json MountStats() const;

  // A BERT model folder made by tests/py/make_bert.py (PyTorch, `flags` as it takes them) in
  // data_/name and added to the repo: its CID, folder, and PyTorch's embeddings of its
  // inputs.txt (n rows of dim).
  struct BertModel {
    std::string cid, dir;
    std::vector<float> expected;
    int n = 0, dim = 0;
  };
  BertModel MakeBertModel(const std::string& name, const std::string& flags);

  std::string tmp_, repo_, mnt_, data_;
};

// The value of extended attribute `name` of `path`, or "error: <strerror>" (a failed lookup is
// a value the tests compare, not an exception).
std::string Xattr(const std::string& path, const char* name);
// Polls `ok` every 50 ms until it holds (true) or `limit` passes (false).
bool Eventually(const std::function<bool()>& ok, std::chrono::milliseconds limit = std::chrono::seconds(10));

// Writes `size` deterministic pseudo-random bytes.
void WriteRandomFile(const std::string& path, size_t size, uint32_t seed);

}  // namespace ipfskit::testing
