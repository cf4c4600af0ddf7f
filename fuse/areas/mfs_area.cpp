#include "fuse/areas/mfs_area.h"

#include <fcntl.h>
#include <sys/xattr.h>

namespace ipfskit::fs {

namespace {

constexpr const char* kCidXattr = "user.ipfs.cid";
constexpr const char* kLinkXattr = "user.ipfs.link";

class MfsFile : public OpenFile {
 public:
  MfsFile(std::shared_ptr<MfsAreaContext> ctx, MfsTree::NodeRef ref, int flags)
      : ctx_(std::move(ctx)), ref_(std::move(ref)), writable_((flags & O_ACCMODE) != O_RDONLY),
        append_(flags & O_APPEND) {
    if (writable_) ctx_->tree->WriterOpened();
  }
  ~MfsFile() override {
    if (writable_) ctx_->tree->WriterClosed();
  }
  Result<size_t> Read(uint64_t offset, std::span<uint8_t> out) override { return ctx_->tree->Read(ref_, offset, out); }
  Result<size_t> Write(uint64_t offset, ByteView data) override {
    written_ = true;
    return ctx_->tree->Write(ref_, offset, data, append_);
  }
  // close(): the file gets its CID (blocks buffered); durability comes with fsync or the
  // background commit.
  Status Flush() override { return written_ ? ctx_->tree->FlushFile(ref_) : Status::Ok(); }
  Status Fsync(bool) override { return ctx_->tree->Commit(); }
  Status Release() override { return written_ ? ctx_->tree->FlushFile(ref_) : Status::Ok(); }
  const MfsTree::NodeRef& ref() const { return ref_; }

 private:
  std::shared_ptr<MfsAreaContext> ctx_;
  MfsTree::NodeRef ref_;
  bool writable_, append_;
  bool written_ = false;
};

// "NAME=CID" or "NAME=/ipfs/CID/path" -> (NAME, CID of the target).
Result<std::pair<std::string, Cid>> ParseLinkValue(MfsTree& tree, std::string_view v) {
  size_t eq = v.find('=');
  if (eq == std::string_view::npos || eq == 0)
    return MakeError(Errc::kInvalidArgument, "user.ipfs.link wants NAME=CID or NAME=/ipfs/CID/path");
  std::string name(v.substr(0, eq));
  std::string_view target = v.substr(eq + 1);
  while (!target.empty() && (target.back() == '\n' || target.back() == '\0')) target.remove_suffix(1);
  if (target.substr(0, 6) == "/ipfs/") target.remove_prefix(6);
  size_t slash = target.find('/');
  IPFSKIT_ASSIGN_OR_RETURN(Cid cid, Cid::Parse(target.substr(0, slash)));
  if (slash != std::string_view::npos && slash + 1 < target.size()) {
    IPFSKIT_ASSIGN_OR_RETURN(cid, tree.reader().Resolve(cid, target.substr(slash + 1)));
  }
  return std::make_pair(std::move(name), std::move(cid));
}

class MfsNode : public Node {
 public:
  // A null ref means the tree's root, looked up on every call. (A reload keeps the root node and
  // re-binds every live node by path, so a held ref never points into a detached copy.)
  MfsNode(std::shared_ptr<MfsAreaContext> ctx, MfsTree::NodeRef ref) : ctx_(std::move(ctx)), ref_(std::move(ref)) {}

  uint64_t ino() const override {
    if (!ref_) return ctx_->root_ino;
    return MfsTree::NodeTag(ref_, [] { return AllocateDynamicIno(); });
  }
  double EntryTimeout() const override { return kMfsTimeout; }
  double AttrTimeout() const override { return kMfsTimeout; }
  double NegativeTimeout() const override { return 0.0; }

  Result<struct stat> Getattr() override {
    MfsTree::NodeRef r = Ref();
    IPFSKIT_ASSIGN_OR_RETURN(MfsAttr a, tree().Getattr(r));
    struct stat st = MakeStat(ino(), TypeBits(a.kind) | a.mode, a.size, ctx_->owner, a.mtime.tv_sec,
                              static_cast<uint32_t>(a.mtime.tv_nsec));
    st.st_uid = a.uid;
    st.st_gid = a.gid;
    st.st_nlink = a.nlink;
    st.st_rdev = a.rdev;
    st.st_atim = a.atime;
    st.st_ctim = a.ctime;
    return st;
  }

  Result<std::shared_ptr<Node>> Lookup(std::string_view name) override {
    IPFSKIT_ASSIGN_OR_RETURN(auto child, tree().Lookup(Ref(), name));
    return Wrap(std::move(child));
  }

  Result<std::vector<DirItem>> List() override {
    MfsTree::NodeRef r = Ref();
    IPFSKIT_ASSIGN_OR_RETURN(auto items, tree().List(r));
    std::vector<DirItem> out;
    out.reserve(items.size());
    for (auto& i : items) {
      auto loaded = tree().LoadedChild(r, i.name);
      out.push_back(DirItem{std::move(i.name), loaded ? Wrap(loaded) : nullptr});
    }
    return out;
  }

  Result<std::unique_ptr<OpenFile>> Open(int flags) override {
    MfsTree::NodeRef r = Ref();
    if (MfsTree::KindOf(r) == MfsKind::kDirectory) return MakeError(Errc::kIsDir, "is a directory");
    // The kernel opens FIFOs and devices itself; nothing to read here.
    if (IsSpecial(MfsTree::KindOf(r))) return MakeError(Errc::kUnsupported, "special file");
    if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY) IPFSKIT_TRY_STATUS(tree().Truncate(r, 0));
    return std::unique_ptr<OpenFile>(new MfsFile(ctx_, r, flags));
  }

  Result<std::string> Readlink() override { return tree().Readlink(Ref()); }

  Result<std::pair<std::shared_ptr<Node>, std::unique_ptr<OpenFile>>> Create(std::string_view name, uint32_t mode,
                                                                             int flags, const Caller& caller) override {
    IPFSKIT_ASSIGN_OR_RETURN(auto child, tree().Create(Ref(), name, mode, flags & O_EXCL, Mfs(caller)));
    if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY) IPFSKIT_TRY_STATUS(tree().Truncate(child, 0));
    std::unique_ptr<OpenFile> f(new MfsFile(ctx_, child, flags));
    return std::make_pair(Wrap(child), std::move(f));
  }

  Result<std::shared_ptr<Node>> Mkdir(std::string_view name, uint32_t mode, const Caller& caller) override {
    IPFSKIT_ASSIGN_OR_RETURN(auto child, tree().Mkdir(Ref(), name, mode, Mfs(caller)));
    return Wrap(std::move(child));
  }

  Result<std::shared_ptr<Node>> Symlink(std::string_view name, std::string_view target,
                                        const Caller& caller) override {
    IPFSKIT_ASSIGN_OR_RETURN(auto child, tree().Symlink(Ref(), name, target, Mfs(caller)));
    return Wrap(std::move(child));
  }

  Result<std::shared_ptr<Node>> Mknod(std::string_view name, uint32_t mode, dev_t rdev,
                                      const Caller& caller) override {
    MfsKind kind;
    switch (mode & S_IFMT) {
      case S_IFREG: {
        IPFSKIT_ASSIGN_OR_RETURN(auto child, tree().Create(Ref(), name, mode & 07777, true, Mfs(caller)));
        return Wrap(std::move(child));
      }
      case S_IFIFO: kind = MfsKind::kFifo; break;
      case S_IFSOCK: kind = MfsKind::kSocket; break;
      case S_IFCHR: kind = MfsKind::kCharDevice; break;
      case S_IFBLK: kind = MfsKind::kBlockDevice; break;
      default: return MakeError(Errc::kInvalidArgument, "mknod: unknown file type");
    }
    IPFSKIT_ASSIGN_OR_RETURN(auto child, tree().Mknod(Ref(), name, kind, mode & 07777, rdev, Mfs(caller)));
    return Wrap(std::move(child));
  }

  Result<std::shared_ptr<Node>> Link(Node& target, std::string_view name) override {
    auto* t = dynamic_cast<MfsNode*>(&target);
    if (!t) return MakeError(Errc::kReadOnly, "hard link across areas");  // EXDEV would need an Errc
    MfsTree::NodeRef r = t->Ref();
    IPFSKIT_TRY_STATUS(tree().HardLink(r, Ref(), name));
    return Wrap(std::move(r));
  }

  Status Unlink(std::string_view name) override { return tree().Unlink(Ref(), name); }
  Status Rmdir(std::string_view name) override { return tree().Rmdir(Ref(), name); }

  Status Rename(std::string_view name, Node& new_parent, std::string_view new_name, unsigned flags) override {
    auto* np = dynamic_cast<MfsNode*>(&new_parent);
    // Other areas are read-only: moving into them is refused as a write to them would be.
    if (!np) return MakeError(Errc::kReadOnly, "rename out of /mfs");
    // Linux RENAME_NOREPLACE = 1, RENAME_EXCHANGE = 2: the tree uses the same values.
    return tree().Rename(Ref(), name, np->Ref(), new_name, flags);
  }

  Result<struct stat> Setattr(const SetattrRequest& req) override {
    MfsTree::NodeRef r = Ref();
    if (req.size) {
      // ftruncate() names the handle; both name the same node.
      if (auto* f = dynamic_cast<MfsFile*>(req.handle)) r = f->ref();
      IPFSKIT_TRY_STATUS(tree().Truncate(r, *req.size));
    }
    if (req.uid || req.gid) {
      std::optional<uint32_t> uid, gid;
      if (req.uid) uid = *req.uid;
      if (req.gid) gid = *req.gid;
      IPFSKIT_TRY_STATUS(tree().SetOwner(r, uid, gid));
    }
    if (req.mode) IPFSKIT_TRY_STATUS(tree().SetMode(r, *req.mode));
    if (req.atime) IPFSKIT_TRY_STATUS(tree().SetAtime(r, *req.atime));
    if (req.mtime) IPFSKIT_TRY_STATUS(tree().SetMtime(r, *req.mtime));
    return Getattr();
  }

  bool HasOwner() const override { return true; }

  Result<std::string> GetXattr(std::string_view name) override {
    if (name != kCidXattr) return MakeError(Errc::kNotFound, "no such attribute");
    IPFSKIT_ASSIGN_OR_RETURN(Cid cid, tree().CidOf(Ref()));
    return cid.ToString();
  }
  std::vector<std::string> ListXattr() override { return {kCidXattr}; }

  Status SetXattr(std::string_view name, ByteView value, int flags) override {
    if (name != kLinkXattr)
      return MakeError(Errc::kUnsupported, "only user.ipfs.link can be set (on a directory, NAME=CID)");
    MfsTree::NodeRef r = Ref();
    if (MfsTree::KindOf(r) != MfsKind::kDirectory)
      return MakeError(Errc::kNotDir, "user.ipfs.link is set on the directory that gets the new entry");
    IPFSKIT_ASSIGN_OR_RETURN(auto link, ParseLinkValue(tree(), AsChars(value)));
    IPFSKIT_ASSIGN_OR_RETURN(auto child, tree().Link(r, link.first, link.second, flags & XATTR_REPLACE));
    (void)child;
    return Status::Ok();
  }

 private:
  MfsTree& tree() const { return *ctx_->tree; }
  MfsTree::NodeRef Ref() const { return ref_ ? ref_ : ctx_->tree->Root(); }
  MfsCaller Mfs(const Caller& c) const {
    const Owner& o = ctx_->owner;
    return MfsCaller{o.uid_set ? o.uid : c.uid, o.gid_set ? o.gid : c.gid};
  }
  static mode_t TypeBits(MfsKind k) {
    switch (k) {
      case MfsKind::kDirectory: return S_IFDIR;
      case MfsKind::kSymlink: return S_IFLNK;
      case MfsKind::kFifo: return S_IFIFO;
      case MfsKind::kSocket: return S_IFSOCK;
      case MfsKind::kCharDevice: return S_IFCHR;
      case MfsKind::kBlockDevice: return S_IFBLK;
      case MfsKind::kFile: break;
    }
    return S_IFREG;
  }
  std::shared_ptr<Node> Wrap(MfsTree::NodeRef r) const { return std::make_shared<MfsNode>(ctx_, std::move(r)); }

  std::shared_ptr<MfsAreaContext> ctx_;
  MfsTree::NodeRef ref_;
};

}  // namespace

std::shared_ptr<Node> MakeMfsRoot(std::shared_ptr<MfsAreaContext> ctx) {
  return std::make_shared<MfsNode>(std::move(ctx), nullptr);
}

}  // namespace ipfskit::fs
