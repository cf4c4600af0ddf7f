// Nodes with fixed shape: the mount root, /.ipfskit and its generated files, empty areas.
#pragma once

#include <functional>
#include <mutex>

#include "fuse/node.h"

namespace ipfskit::fs {

// What every node of a mount reports as owner (-o uid=, gid=) and which permission bits it
// clears from every mode it reports (-o umask=). Applied in MakeStat, the one place nodes
// build their attributes.
struct Owner {
  uid_t uid = 0;
  gid_t gid = 0;
  mode_t umask = 0;
  // -o uid= / gid= given: what /mfs creates belongs to them too, as on vfat or sshfs, instead
  // of to the creating process (ext4's rule, used without the options).
  bool uid_set = false, gid_set = false;
};

class StaticDir : public Node {
 public:
  StaticDir(uint64_t ino, Owner owner, uint32_t perm = 0555) : ino_(ino), owner_(owner), perm_(perm) {}
  void Add(std::string name, std::shared_ptr<Node> node) { children_.push_back({std::move(name), std::move(node)}); }
  uint64_t ino() const override { return ino_; }
  Result<struct stat> Getattr() override;
  double NegativeTimeout() const override { return 1.0; }
  Result<std::shared_ptr<Node>> Lookup(std::string_view name) override;
  Result<std::vector<DirItem>> List() override;

 private:
  uint64_t ino_;
  Owner owner_;
  uint32_t perm_;
  std::vector<DirItem> children_;
};

// A read-only file whose content is generated at open (stats, version). Served with
// direct_io so every open sees fresh content.
class GeneratedFile : public Node {
 public:
  GeneratedFile(uint64_t ino, Owner owner, std::function<std::string()> gen)
      : ino_(ino), owner_(owner), gen_(std::move(gen)) {}
  uint64_t ino() const override { return ino_; }
  double AttrTimeout() const override { return 0.0; }
  Result<struct stat> Getattr() override;
  Result<std::unique_ptr<OpenFile>> Open(int flags) override;

 private:
  uint64_t ino_;
  Owner owner_;
  std::function<std::string()> gen_;
};

// Fixed inode numbers of the static nodes.
namespace ino {
constexpr uint64_t kRoot = 1;  // FUSE_ROOT_ID
constexpr uint64_t kIpfs = 2;
constexpr uint64_t kIpns = 3;
constexpr uint64_t kMfs = 4;
constexpr uint64_t kInfer = 5;
constexpr uint64_t kControl = 6;  // /.ipfskit
constexpr uint64_t kStats = 7;
constexpr uint64_t kVersion = 8;
}  // namespace ino

struct stat MakeStat(uint64_t ino, mode_t mode, uint64_t size, Owner owner, time_t mtime = kEpochTime,
                     uint32_t mtime_nsec = 0);

}  // namespace ipfskit::fs
