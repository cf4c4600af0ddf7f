// /ipns: mutable names (core/ipns/namesys.h) as directories.
//
//   /ipns/<name>      any IPNS name (every spelling) or DNSLink domain: the content its value
//                     resolves to, read-only, served as /ipfs is. The entry lives 1 s in the
//                     kernel (Kubo's mutable cache time); a later lookup resolves again (from the
//                     cache: no network while the record's TTL lasts) and, when the value changed,
//                     answers with another inode, so new opens see the new content while files
//                     already open keep reading the old, immutable one. A background refresh that
//                     finds a new value invalidates the kernel's entry at once.
//   /ipns/<k51…>      for one of our own keys: a writable tree like /mfs (core/mfs/mfs_tree.h),
//                     kept in the repo under meta "ipns.<k51…>.root" (a gc root). Each commit
//                     re-publishes the root (debounced to at most once per second; and at
//                     unmount); at mount start a tree whose root differs from the last record
//                     (a daemon killed after fsync, before publishing) is published then.
//   /ipns/<keyname>   a symlink to /ipns/<k51…> of our key of that name (like Kubo's `local`).
// Listing shows our keys (both names) and the names resolved recently.
//
// Extended attributes on /ipns/<name>: user.ipfs.cid (the resolved CID), user.ipns.value,
// user.ipns.sequence, user.ipns.validity, user.ipns.source (where the value came from;
// "stale"/"expired" appended when served past its TTL/EOL), user.ipns.age (seconds since it was
// received).
//
// Thread safety: nodes are called from FUSE worker threads concurrently; the area's own state
// (open trees, the publisher) is guarded by IpnsArea's mutex, never held across a resolve or a
// commit. Lifetime: the mount owns the IpnsArea; Close() commits and publishes every tree and
// stops the publisher, before the NameSys and the session go away.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "core/ipns/namesys.h"
#include "core/mfs/mfs_tree.h"
#include "fuse/areas/ipfs_area.h"
#include "fuse/areas/mfs_area.h"

namespace ipfskit::fs {

class IpnsArea : public std::enable_shared_from_this<IpnsArea> {
 public:
  struct Options {
    std::shared_ptr<NameSys> ns;
    std::shared_ptr<IpfsContext> ipfs;       // builds the content nodes
    std::shared_ptr<Repo> repo;
    std::shared_ptr<BlockGetter> fallback;   // for own trees: content linked from the network
    MfsOptions mfs;                          // template for own trees (root_key is set per key)
    Owner owner;
    bool read_only = false;
  };
  static std::shared_ptr<IpnsArea> Make(Options o);
  ~IpnsArea();

  std::shared_ptr<Node> Root();
  // Opens the trees of every own key that has one and publishes those whose root is not what
  // their record says; starts the publisher. Errors are logged, never fatal: the mount starts.
  void Start();
  // Commits and publishes every own tree, stops the publisher.
  void Close();
  // The mount calls this to drop the kernel's entry /ipns/<name> (set once the session exists).
  void SetInvalidator(std::function<void(const std::string& name)> fn);

  // For the nodes.
  Result<std::shared_ptr<Node>> Lookup(std::string_view name);
  Result<std::vector<DirItem>> List();
  const Options& options() const { return o_; }

 private:
  struct OwnTree {
    std::string key_name;
    IpnsName id;
    std::shared_ptr<MfsTree> tree;
    std::shared_ptr<Node> root;
    bool dirty = false;         // committed root not yet published
    std::chrono::steady_clock::time_point last_publish{};
  };
  explicit IpnsArea(Options o) : o_(std::move(o)) {}
  Result<std::shared_ptr<OwnTree>> OpenOwnTree(const KeyInfo& key);
  void PublishTree(OwnTree& t);
  void PublisherLoop();
  std::vector<KeyInfo> Keys();  // cached for 1 s

  Options o_;
  std::shared_ptr<Node> root_;
  std::mutex mu_;  // own_, keys_, stop_, the invalidator and its queue
  std::condition_variable cv_;
  std::map<std::string, std::shared_ptr<OwnTree>> own_;  // by k51…
  std::vector<KeyInfo> keys_;
  std::chrono::steady_clock::time_point keys_at_{};
  bool stop_ = false;
  bool closed_ = false;
  std::thread publisher_;
  std::function<void(const std::string&)> invalidate_;
  std::vector<std::string> pending_inval_;  // names to invalidate, on the publisher thread
};

}  // namespace ipfskit::fs
