#include "tests/support/mount_fixture.h"

#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

namespace ipfskit::testing {

int Sh(const std::string& cmd, std::string* out) { return RunCommand("(" + cmd + ") 2>&1", out); }

std::string ShOk(const std::string& cmd) {
  std::string out;
  int rc = Sh(cmd, &out);
  EXPECT_EQ(rc, 0) << cmd << "\n" << out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::string Xattr(const std::string& path, const char* name) {
  char buf[4096];
  ssize_t n = ::getxattr(path.c_str(), name, buf, sizeof buf);
  if (n < 0) return std::string("error: ") + std::strerror(errno);
  return std::string(buf, n);
}

bool Eventually(const std::function<bool()>& ok, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!ok()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

void WriteRandomFile(const std::string& path, size_t size, uint32_t seed) {
  std::ofstream f(path, std::ios::binary);
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> buf(1 << 15);
  while (size) {
    for (auto& x : buf) x = rng();
    size_t n = std::min(size, buf.size() * 8);
    f.write(reinterpret_cast<const char*>(buf.data()), n);
    size -= n;
  }
}

void MountFixture::SetUp() {
  // Tests never reach past loopback: no default public gateways, no default Kubo probe.
  setenv("IPFSKIT_GATEWAYS", "", 1);
  setenv("IPFSKIT_KUBO_API", "none", 1);
  tmp_ = MakeTempDir("ipfskit-mount");
  repo_ = tmp_ + "/repo";
  mnt_ = tmp_ + "/mnt";
  data_ = tmp_ + "/data";
  std::filesystem::create_directories(mnt_);
  std::filesystem::create_directories(data_);
  ShOk(Cli("init"));
}

void MountFixture::TearDown() {
  // A daemon still starting can mount after a first check: look again a few times.
  for (int i = 0; i < 5 && Mounted(); ++i) {
    Sh("fusermount3 -u -z '" + mnt_ + "' || umount -l '" + mnt_ + "'");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::error_code ec;
  std::filesystem::remove_all(tmp_, ec);
}

std::string MountFixture::Cli(const std::string& args) const {
  return "'" + CliBinary() + "' --repo '" + repo_ + "' " + args;
}

bool MountFixture::Mounted() const { return Sh("grep -q ' " + mnt_ + " ' /proc/mounts") == 0; }

nlohmann::json MountFixture::MountStats() const {
  std::ifstream in(mnt_ + "/.ipfskit/stats");
  EXPECT_TRUE(in.good()) << "cannot read " << mnt_ << "/.ipfskit/stats";
  if (!in.good()) return nullptr;
  return nlohmann::json::parse(in);
}

void MountFixture::Mount(const std::string& options) {
  std::string o = options.empty() ? "" : " -o " + options;
  ShOk(Cli("mount '" + mnt_ + "'" + o));
  for (int i = 0; i < 100; ++i) {
    struct stat st;
    if (::stat((mnt_ + "/ipfs").c_str(), &st) == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  FAIL() << "mount did not come up";
}

void MountFixture::Unmount() { ShOk(Cli("unmount '" + mnt_ + "'")); }

MountFixture::BertModel MountFixture::MakeBertModel(const std::string& name, const std::string& flags) {
  BertModel m;
  m.dir = data_ + "/" + name;
  ShOk("/usr/bin/python3 '" + SourceDir() + "/tests/py/make_bert.py' --out '" + m.dir + "' " + flags + " 2>/dev/null");
  std::string e = ReadFile(m.dir + "/expected.f32");
  m.expected.resize(e.size() / 4);
  std::memcpy(m.expected.data(), e.data(), e.size());
  auto meta = nlohmann::json::parse(ReadFile(m.dir + "/expected.json"));
  m.n = meta["n"];
  m.dim = meta["dim"];
  m.cid = ShOk(Cli("add -Qr '" + m.dir + "'"));
  return m;
}

}  // namespace ipfskit::testing
