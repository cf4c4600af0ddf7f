// /ipfs through a real FUSE mount, driven by ordinary tools and compared with the originals.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "tests/support/mount_fixture.h"

namespace ipfskit::testing {
namespace {

namespace fs = std::filesystem;

class IpfsMount : public MountFixture {
 protected:
  // A tree with nested dirs, an empty dir, unicode names, a symlink, a multi-block file
  // and a 12,000-entry (HAMT) directory.
  std::string MakeTree() {
    std::string t = data_ + "/tree";
    fs::create_directories(t + "/sub/deeper");
    fs::create_directories(t + "/empty");
    fs::create_directories(t + "/wide");
    WriteRandomFile(t + "/big.bin", (5 << 20) + 12345, 1);
    WriteRandomFile(t + "/sub/small.txt", 1000, 2);
    WriteRandomFile(t + "/sub/deeper/日本語 ünï.txt", 300000, 3);
    std::ofstream(t + "/hello.txt") << "hello world\n";
    fs::create_symlink("hello.txt", t + "/link");
    for (int i = 0; i < 12000; ++i) std::ofstream(t + "/wide/f" + std::to_string(i)) << i;
    return t;
  }
};

TEST_F(IpfsMount, OrdinaryToolsMatchTheOriginals) {
  std::string tree = MakeTree();
  std::string root = ShOk(Cli("add -Qr '" + tree + "'"));
  Mount();
  std::string m = mnt_ + "/ipfs/" + root;
  // cp -r and diff -r, with the symlink kept as a symlink.
  ShOk("cp -r '" + m + "' '" + tmp_ + "/copy'");
  ShOk("diff -r '" + tree + "' '" + tmp_ + "/copy'");
  EXPECT_EQ(ShOk("readlink '" + m + "/link'"), "hello.txt");
  // sha256sum of the multi-block file.
  EXPECT_EQ(ShOk("sha256sum < '" + m + "/big.bin'"), ShOk("sha256sum < '" + tree + "/big.bin'"));
  // find and ls -lR see every entry.
  EXPECT_EQ(ShOk("cd '" + m + "' && find . | sort | wc -l"), ShOk("cd '" + tree + "' && find . | sort | wc -l"));
  EXPECT_EQ(ShOk("cd '" + m + "' && find . -type f | sort | md5sum"), ShOk("cd '" + tree + "' && find . -type f | sort | md5sum"));
  ShOk("ls -lR '" + m + "' > /dev/null");
  // du counts the bytes (apparent size).
  EXPECT_EQ(ShOk("du -s --apparent-size -b '" + m + "/big.bin' | cut -f1"), std::to_string((5 << 20) + 12345));
  // tar c, extract, compare.
  ShOk("mkdir '" + tmp_ + "/untar' && tar -C '" + m + "' -cf - . | tar -C '" + tmp_ + "/untar' -xf -");
  ShOk("diff -r '" + tree + "' '" + tmp_ + "/untar'");
  // rsync dry comparison: nothing to transfer after a copy by checksum.
  ShOk("rsync -a '" + m + "/' '" + tmp_ + "/rsynced/'");
  EXPECT_EQ(ShOk("rsync -anc --out-format=%n '" + m + "/' '" + tmp_ + "/rsynced/' | wc -l"), "0");
  // dd at random offsets.
  std::mt19937 rng(5);
  for (int i = 0; i < 20; ++i) {
    size_t skip = rng() % 5000, count = 1 + rng() % 300;
    std::string a = ShOk("dd if='" + m + "/big.bin' bs=1024 skip=" + std::to_string(skip) + " count=" +
                         std::to_string(count) + " status=none | md5sum");
    std::string b = ShOk("dd if='" + tree + "/big.bin' bs=1024 skip=" + std::to_string(skip) + " count=" +
                         std::to_string(count) + " status=none | md5sum");
    EXPECT_EQ(a, b) << "skip=" << skip;
  }
  // The HAMT directory lists all 12,000 entries, each with the right size.
  EXPECT_EQ(ShOk("ls '" + m + "/wide' | wc -l"), "12000");
  EXPECT_EQ(ShOk("cat '" + m + "/wide/f11999'"), "11999");
  EXPECT_EQ(ShOk("getfattr --only-values -n user.ipfs.cid '" + m + "' 2>/dev/null"), root);
}

TEST_F(IpfsMount, ConformanceFixturesThroughTheMount) {
  ShOk("for f in $(find '" + FixturesDir() + "' -name '*.car'); do " + Cli("dag import \"$f\"") + " >/dev/null || true; done");
  Mount();
  std::string ip = mnt_ + "/ipfs/";
  EXPECT_EQ(ShOk("cat " + ip + "bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy/hello.txt"), "hello world");
  EXPECT_EQ(ShOk("ls " + ip + "bafybeidbclfqleg2uojchspzd4bob56dqetqjsj27gy2cq3klkkgxtpn4i | wc -l"), "1000");
  EXPECT_EQ(ShOk("readlink " + ip + "QmWvY6FaqFMS89YAQ9NAPjVP4WZKA1qbHbicc9HeSKQTgt/bar"), "foo");
  EXPECT_EQ(ShOk("cat '" + ip + "bafybeig6ka5mlwkl4subqhaiatalkcleo4jgnr3hqwvpmsqfca27cijp3i/ą/ę/file-źł.txt'"),
            "I am a txt file on path with utf8");
  // outside-root.car holds an entry named "../foo": it is hidden, never a way out of the mount.
  std::string outside = ip + "bafybeicaj7kvxpcv4neaqzwhrqqmdstu4dhrwfpknrgebq6nzcecfucvyu";
  EXPECT_EQ(ShOk("ls -a " + outside + " | tr '\\n' ' '"), ". .. bar ");
  ShOk("mkdir '" + tmp_ + "/x' && cp -r " + outside + " '" + tmp_ + "/x/out' && tar -C " + outside + " -cf '" + tmp_ +
       "/o.tar' .");
  EXPECT_EQ(ShOk("find '" + tmp_ + "/x' -name foo | wc -l"), "0");
  EXPECT_FALSE(fs::exists(tmp_ + "/foo"));
  EXPECT_EQ(ShOk("tar -tf '" + tmp_ + "/o.tar' | grep -c '\\.\\./' || true"), "0");
  auto stats = MountStats();
  EXPECT_GE(stats["unsafe_names_hidden"].get<int>(), 1);
  // The incomplete DAG reads as far as it can, then EIO: no hang.
  std::string out;
  EXPECT_NE(Sh("timeout 20 cat " + ip + "QmYhmPjhFjYFyaoiuNzYv8WGavpSRDwdHWe5B4M5du5Rtk > /dev/null", &out), 0);
  EXPECT_NE(out.find("Input/output error"), std::string::npos) << out;
}

TEST_F(IpfsMount, MmapAndConcurrentReaders) {
  std::string f = data_ + "/blob";
  WriteRandomFile(f, (3 << 20) + 77, 9);
  std::string cid = ShOk(Cli("add -Q --chunker size-65536 '" + f + "'"));
  Mount();
  std::string m = mnt_ + "/ipfs/" + cid;
  std::ifstream in(f, std::ios::binary);
  std::string want((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  {
    int fd = ::open(m.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    void* p = ::mmap(nullptr, want.size(), PROT_READ, MAP_PRIVATE, fd, 0);
    ASSERT_NE(p, MAP_FAILED);
    EXPECT_EQ(0, std::memcmp(p, want.data(), want.size()));
    ::munmap(p, want.size());
    ::close(fd);
  }
  // 32 readers on one file, each at its own offsets, all get the right bytes.
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 32; ++t) {
    ts.emplace_back([&, t] {
      int fd = ::open(m.c_str(), O_RDONLY);
      if (fd < 0) return (void)++bad;
      std::mt19937 rng(t);
      std::vector<char> buf(200000);
      for (int i = 0; i < 20; ++i) {
        size_t off = rng() % want.size();
        ssize_t n = ::pread(fd, buf.data(), buf.size(), off);
        size_t expect = std::min(buf.size(), want.size() - off);
        if (n != static_cast<ssize_t>(expect) || std::memcmp(buf.data(), want.data() + off, expect) != 0) ++bad;
      }
      ::close(fd);
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
  // The file's root was decoded once and then served from the reader's decoded-node cache.
  auto stats = MountStats();
  EXPECT_GE(stats["reader"]["decoded_nodes"]["entries"].get<int>(), 1) << stats.dump();
  EXPECT_GE(stats["reader"]["decoded_nodes"]["hits"].get<int>(), stats["requests"]["read"].get<int>() - 1)
      << stats.dump();
}

TEST_F(IpfsMount, PlainReaddirAnswersWithoutStatingEntries) {
  // 10,000 entries with 200-byte names: a readdirplus reply (at most 1 MiB) holds about 3,000
  // of them, so most of the listing is plain readdir whatever the kernel's batch size.
  std::string dir = data_ + "/many";
  fs::create_directories(dir);
  const std::string pad(196, 'n');
  for (int i = 0; i < 10000; ++i) std::ofstream(dir + "/" + pad + std::to_string(10000 + i).substr(1)) << "file " << i;
  std::string root = ShOk(Cli("add -Qr '" + dir + "'"));
  Mount();
  std::string m = mnt_ + "/ipfs/" + root;
  auto gets = [&] {
    return MountStats()["sources"]["gets"].get<int64_t>();
  };
  const int64_t before = gets();
  // getdents without stat: the kernel asks readdirplus for the first batch only (nothing asked
  // for attributes since), then plain readdir, which the mount answers from the directory's
  // blocks alone (inode = the CID's hash, type DT_UNKNOWN).
  std::string listed = ShOk("python3 -c \"import os,sys; print('\\n'.join(f'{e.name} {e.inode()}' for e in os.scandir(sys.argv[1])))\" '" + m + "'");
  const int64_t after_list = gets();
  std::istringstream in(listed);
  std::string name;
  uint64_t ino = 0;
  size_t n = 0;
  std::map<std::string, uint64_t> inos;
  while (in >> name >> ino) inos[name] = ino, ++n;
  ASSERT_EQ(n, 10000u);
  EXPECT_LT(after_list - before, 5000) << "a plain listing stat'ed its entries";
  // The inodes it gave are the ones stat gives; then every entry has been read (the control).
  for (const auto& [nm, i] : inos) {
    struct stat st;
    ASSERT_EQ(::stat((m + "/" + nm).c_str(), &st), 0) << nm;
    EXPECT_EQ(static_cast<uint64_t>(st.st_ino), i) << nm;
  }
  EXPECT_GE(gets() - after_list, 5000);
  // Tools that need the type (DT_UNKNOWN from a plain readdir) still get it right.
  EXPECT_EQ(ShOk("find '" + m + "' -type f | wc -l"), "10000");
  // ls -l asks for security.selinux and the POSIX ACL of every entry; the mount has neither
  // namespace and says so (ENOTSUP), so ls stops asking after the first entry.
  auto xattrs = [&] {
    return MountStats()["requests"]["xattr"].get<int64_t>();
  };
  const int64_t xattrs_before = xattrs();
  EXPECT_EQ(ShOk("ls -l '" + m + "' | grep -c '^-r'"), "10000");
  EXPECT_LT(xattrs() - xattrs_before, 10) << "ls -l asked for attributes entry by entry";
  std::string err;
  EXPECT_NE(Sh("getfattr -n security.selinux '" + m + "' 2>&1", &err), 0);
  EXPECT_NE(err.find("Operation not supported"), std::string::npos) << err;
  EXPECT_NE(Sh("getfattr -n user.no.such '" + m + "' 2>&1", &err), 0);
  EXPECT_NE(err.find("No such attribute"), std::string::npos) << err;
}

TEST_F(IpfsMount, BadInputGivesClearErrors) {
  std::string cid = ShOk("echo hi | " + Cli("add -Q"));
  Mount();
  std::string out;
  // Malformed CIDs and missing names: ENOENT.
  for (const char* bad : {"notacid", "Qm123", "bafy", "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvykX"}) {
    EXPECT_NE(Sh(std::string("ls '") + mnt_ + "/ipfs/" + bad + "'", &out), 0);
    EXPECT_NE(out.find("No such file"), std::string::npos) << bad << ": " << out;
  }
  // A path past a file: ENOTDIR.
  EXPECT_NE(Sh("cat '" + mnt_ + "/ipfs/" + cid + "/x'", &out), 0);
  EXPECT_NE(out.find("Not a directory"), std::string::npos) << out;
  // Writes: EROFS.
  EXPECT_NE(Sh("echo x > '" + mnt_ + "/ipfs/" + cid + "'", &out), 0);
  EXPECT_NE(out.find("Read-only"), std::string::npos) << out;
  EXPECT_NE(Sh("mkdir '" + mnt_ + "/ipfs/newdir'", &out), 0);
  EXPECT_NE(Sh("touch '" + mnt_ + "/ipfs/" + cid + "'", &out), 0);
  // A CID whose block is not available anywhere: EIO, quickly, and counted.
  std::string absent = "bafkreie7ohywtosou76tasm7j63yigtzxe7d5zqus4zu3j6oltvgtibeom";
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_NE(Sh("cat '" + mnt_ + "/ipfs/" + absent + "'", &out), 0);
  EXPECT_NE(out.find("Input/output error"), std::string::npos) << out;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  auto stats = MountStats();
  EXPECT_GE(stats["errors"]["unavailable"].get<int>(), 1) << stats.dump();
  EXPECT_GE(stats["errors"]["read_only"].get<int>(), 1) << stats.dump();
}

TEST_F(IpfsMount, MissingLeafGivesEioNotGarbage) {
  std::string f = data_ + "/three-blocks";
  WriteRandomFile(f, 3 * 1024, 4);
  std::string cid = ShOk(Cli("add -Q --chunker size-1024 '" + f + "'"));
  std::string mid = ShOk("dd if='" + f + "' bs=1024 skip=1 count=1 status=none | " + Cli("add -Q -n --chunker size-1024"));
  ShOk(Cli("block rm " + mid));
  Mount();
  std::string out;
  // The kernel must never see a short read (it would take it as EOF and zero-fill): the
  // reader fails the whole range, and no byte of the missing block is invented.
  EXPECT_NE(Sh("cat '" + mnt_ + "/ipfs/" + cid + "' > '" + tmp_ + "/got'", &out), 0);
  EXPECT_NE(out.find("Input/output error"), std::string::npos) << out;
  EXPECT_LT(fs::file_size(tmp_ + "/got"), 1025u);
  EXPECT_EQ(ShOk("stat -c %s '" + mnt_ + "/ipfs/" + cid + "'"), "3072");
}

TEST_F(IpfsMount, ListsPinnedRootsAndServesVersion) {
  std::string a = ShOk("echo one | " + Cli("add -Q"));
  std::string b = ShOk("echo two | " + Cli("add -Q --pin=false"));
  Mount();
  std::string ls = ShOk("ls '" + mnt_ + "/ipfs'");
  EXPECT_NE(ls.find(a), std::string::npos);
  EXPECT_EQ(ls.find(b), std::string::npos);  // not pinned: not listed, but still reachable
  EXPECT_EQ(ShOk("cat '" + mnt_ + "/ipfs/" + b + "'"), "two");
  EXPECT_NE(ShOk("cat '" + mnt_ + "/.ipfskit/version'").find("ipfskit"), std::string::npos);
  EXPECT_EQ(ShOk("ls -a '" + mnt_ + "' | tr '\\n' ' '"), ". .. .ipfskit infer ipfs ipns mfs ");
}

TEST_F(IpfsMount, KilledDaemonThenMountAgainRecovers) {
  std::string cid = ShOk("echo persistent | " + Cli("add -Q"));
  Mount();
  ShOk("pkill -9 -f -- '[-]-repo " + repo_ + " mount'");
  std::string out;
  for (int i = 0; i < 50 && Sh("ls '" + mnt_ + "'", &out) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  // The dead endpoint answers ECONNABORTED at first, then ENOTCONN.
  EXPECT_TRUE(out.find("not connected") != std::string::npos || out.find("connection abort") != std::string::npos)
      << out;
  Mount();
  EXPECT_EQ(ShOk("cat '" + mnt_ + "/ipfs/" + cid + "'"), "persistent");
}

TEST_F(IpfsMount, UnmountWithOpenFilesAndSignals) {
  std::string cid = ShOk("echo busy | " + Cli("add -Q"));
  Mount();
  // A reader keeps the file open while we unmount: the mount detaches, the reader still reads.
  std::string out;
  ShOk("exec 3< '" + mnt_ + "/ipfs/" + cid + "'; " + Cli("unmount '" + mnt_ + "'") + "; cat <&3");
  EXPECT_FALSE(Mounted());
  // SIGTERM unmounts cleanly.
  Mount();
  ShOk("pkill -TERM -f -- '[-]-repo " + repo_ + " mount'");
  for (int i = 0; i < 100 && Mounted(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(Mounted());
}

TEST_F(IpfsMount, MountDashTForm) {
  std::string cid = ShOk("echo via-mount-t | " + Cli("add -Q"));
  // mount(8) runs helpers with a fixed PATH, so the program must be installed as `ipfskit`
  // there; link the build into /usr/local/bin for the test unless a real install exists.
  const std::string link = "/usr/local/bin/ipfskit";
  std::error_code ec;
  bool ours = !fs::exists(fs::symlink_status(link)) ||
              (fs::is_symlink(link) && fs::read_symlink(link).string().find("/fuse/ipfskit") != std::string::npos);
  if (!fs::exists("/usr/bin/ipfskit")) {
    if (!ours) GTEST_SKIP() << link << " exists and is not a build link";
    fs::remove(link, ec);
    fs::create_symlink(CliBinary(), link);
  }
  ShOk("mount -t fuse.ipfskit ipfskit '" + mnt_ + "' -o repo='" + repo_ + "'");
  EXPECT_EQ(ShOk("cat '" + mnt_ + "/ipfs/" + cid + "'"), "via-mount-t");
  ShOk("umount '" + mnt_ + "'");
  EXPECT_FALSE(Mounted());
  // The /etc/fstab form goes through the same helper: `mount DIR` with a line for it.
  if (ours && !fs::exists("/usr/bin/ipfskit")) fs::remove(link, ec);
}

}  // namespace
}  // namespace ipfskit::testing
