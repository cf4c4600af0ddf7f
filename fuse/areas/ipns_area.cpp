#include "fuse/areas/ipns_area.h"

#include <sys/stat.h>

#include <set>

#include "core/util/log.h"

namespace ipfskit::fs {
namespace {

constexpr double kMutableTimeout = 1.0;  // as Kubo's /ipns mount (mutableCacheTime)

std::string RootKeyFor(const IpnsName& id) { return "ipns." + id.ToString() + ".root"; }

uint64_t InoForName(const std::string& name, const std::string& path) {
  uint64_t h = 1469598103934665603ull;
  for (char c : "ipns:" + name + "|" + path) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  h ^= h >> 29;
  return kContentInoBit | (h & ~(kContentInoBit | kDynamicInoBit));
}

class SymlinkNode : public Node {
 public:
  SymlinkNode(std::string target, Owner owner)
      : ino_(InoForName("symlink", target)), target_(std::move(target)), owner_(owner) {}
  uint64_t ino() const override { return ino_; }
  Result<struct stat> Getattr() override { return MakeStat(ino_, S_IFLNK | 0777, target_.size(), owner_); }
  Result<std::string> Readlink() override { return target_; }

 private:
  uint64_t ino_;
  std::string target_;
  Owner owner_;
};

// /ipns/<name>: the resolved content under an inode of its own (name + resolved path), with the
// resolution's facts as xattrs. Everything else is the content node's.
class IpnsNameNode : public Node {
 public:
  IpnsNameNode(std::string name, IpnsResolution res, std::shared_ptr<Node> inner)
      : ino_(InoForName(name, res.path)), name_(std::move(name)), res_(std::move(res)), inner_(std::move(inner)) {}
  uint64_t ino() const override { return ino_; }
  double EntryTimeout() const override { return kMutableTimeout; }
  double AttrTimeout() const override { return kMutableTimeout; }
  Result<struct stat> Getattr() override {
    IPFSKIT_ASSIGN_OR_RETURN(struct stat st, inner_->Getattr());
    st.st_ino = ino_;
    return st;
  }
  Result<std::shared_ptr<Node>> Lookup(std::string_view name) override { return inner_->Lookup(name); }
  Result<std::vector<DirItem>> List() override { return inner_->List(); }
  Result<std::unique_ptr<OpenFile>> Open(int flags) override { return inner_->Open(flags); }
  Result<std::string> Readlink() override { return inner_->Readlink(); }
  Result<std::string> GetXattr(std::string_view name) override {
    if (name == "user.ipns.value") return res_.value;
    if (name == "user.ipns.path") return res_.path;
    if (name == "user.ipns.sequence" && !res_.is_dnslink) return std::to_string(res_.sequence);
    if (name == "user.ipns.validity" && !res_.is_dnslink) return res_.validity;
    if (name == "user.ipns.source") {
      std::string s = res_.source;
      if (res_.expired) s += " (expired)";
      else if (res_.stale) s += " (stale)";
      return s;
    }
    if (name == "user.ipns.age") {
      int64_t age = res_.received ? (NowUnixNanos() - res_.received) / 1000000000 : 0;
      return std::to_string(std::max<int64_t>(0, age));
    }
    return inner_->GetXattr(name);
  }
  std::vector<std::string> ListXattr() override {
    std::vector<std::string> v = inner_->ListXattr();
    for (const char* n : {"user.ipns.value", "user.ipns.path", "user.ipns.source", "user.ipns.age"}) v.push_back(n);
    if (!res_.is_dnslink) {
      v.push_back("user.ipns.sequence");
      v.push_back("user.ipns.validity");
    }
    return v;
  }

 private:
  uint64_t ino_;
  std::string name_;
  IpnsResolution res_;
  std::shared_ptr<Node> inner_;
};

class IpnsRootNode : public Node {
 public:
  IpnsRootNode(std::weak_ptr<IpnsArea> area, Owner owner) : area_(std::move(area)), owner_(owner) {}
  uint64_t ino() const override { return ino::kIpns; }
  Result<struct stat> Getattr() override {
    auto a = area_.lock();
    return MakeStat(ino::kIpns, S_IFDIR | 0555, 0, owner_);
  }
  double EntryTimeout() const override { return kMutableTimeout; }
  double AttrTimeout() const override { return kMutableTimeout; }
  Result<std::shared_ptr<Node>> Lookup(std::string_view name) override {
    auto a = area_.lock();
    if (!a) return MakeError(Errc::kNotFound, "unmounting");
    return a->Lookup(name);
  }
  Result<std::vector<DirItem>> List() override {
    auto a = area_.lock();
    if (!a) return std::vector<DirItem>{};
    return a->List();
  }

 private:
  std::weak_ptr<IpnsArea> area_;
  Owner owner_;
};

}  // namespace

std::shared_ptr<IpnsArea> IpnsArea::Make(Options o) {
  std::shared_ptr<IpnsArea> a(new IpnsArea(std::move(o)));
  a->root_ = std::make_shared<IpnsRootNode>(a, a->o_.owner);
  return a;
}

IpnsArea::~IpnsArea() { Close(); }

std::shared_ptr<Node> IpnsArea::Root() { return root_; }

void IpnsArea::SetInvalidator(std::function<void(const std::string&)> fn) {
  std::lock_guard lk(mu_);
  invalidate_ = fn;
  // Change notices may come from a FUSE worker in the middle of a lookup in /ipns, where an
  // invalidation of an entry of /ipns would deadlock on the directory's lock: queue them for the
  // publisher thread.
  o_.ns->SetOnChange([w = weak_from_this()](const std::string& name) {
    auto a = w.lock();
    if (!a) return;
    std::lock_guard lk2(a->mu_);
    a->pending_inval_.push_back(name);
    a->cv_.notify_all();
  });
}

std::vector<KeyInfo> IpnsArea::Keys() {
  auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lk(mu_);
    if (now - keys_at_ < std::chrono::seconds(1)) return keys_;
  }
  auto keys = o_.ns->keystore().List();
  std::lock_guard lk(mu_);
  if (keys.ok()) keys_ = std::move(*keys);
  keys_at_ = now;
  return keys_;
}

Result<std::shared_ptr<IpnsArea::OwnTree>> IpnsArea::OpenOwnTree(const KeyInfo& key) {
  static std::mutex open_mu;  // one tree opening at a time; not held by lookups of other names
  std::lock_guard open(open_mu);
  const std::string id = key.id.ToString();
  {
    std::lock_guard lk(mu_);
    if (closed_) return MakeError(Errc::kNotFound, "unmounting");
    if (auto it = own_.find(id); it != own_.end()) return it->second;
  }
  const std::string root_key = RootKeyFor(key.id);
  if (!o_.read_only && !o_.repo->GetMeta(root_key).ok()) {
    // First use on this repo: start from what the name was last published as, if a directory.
    if (auto held = o_.ns->Cached(key.id)) {
      const std::string& v = held->record.value;
      if (v.rfind("/ipfs/", 0) == 0 && v.find('/', 6) == std::string::npos) {
        auto cid = Cid::Parse(v.substr(6));
        if (cid.ok()) {
          auto info = o_.ipfs->reader->Stat(*cid);
          if (info.ok() && info->is_dir()) (void)o_.repo->PutMeta(root_key, cid->bytes());
        }
      }
    }
  }
  MfsOptions mo = o_.mfs;
  mo.root_key = root_key;
  std::weak_ptr<IpnsArea> weak = weak_from_this();
  mo.on_commit = [weak, id](const Cid&) {
    auto a = weak.lock();
    if (!a) return;
    std::lock_guard lk(a->mu_);
    if (auto it = a->own_.find(id); it != a->own_.end()) it->second->dirty = true;
    a->cv_.notify_all();
  };
  IPFSKIT_ASSIGN_OR_RETURN(auto tree, MfsTree::Open(o_.repo, mo, o_.fallback));
  tree->StartBackground(std::chrono::seconds(1));
  auto t = std::make_shared<OwnTree>();
  t->key_name = key.name;
  t->id = key.id;
  t->tree = tree;
  t->root = MakeMfsRoot(std::make_shared<MfsAreaContext>(MfsAreaContext{tree, o_.owner, AllocateDynamicIno()}));
  // Published value behind the tree (a daemon killed after fsync, before it published)?
  auto held = o_.ns->Cached(key.id);
  Cid root = tree->Stats().root;
  if (!o_.read_only && root.valid() && o_.repo->GetMeta(root_key).ok() &&
      (!held || held->record.value != "/ipfs/" + root.ToString()))
    t->dirty = true;
  std::lock_guard lk(mu_);
  own_[id] = t;
  cv_.notify_all();
  return t;
}

void IpnsArea::PublishTree(OwnTree& t) {
  Cid root = t.tree->Stats().root;
  if (!root.valid() || o_.read_only) return;
  std::string value = "/ipfs/" + root.ToString();
  auto held = o_.ns->Cached(t.id);
  if (held && held->record.value == value) return;
  PublishOptions po;
  po.key = t.key_name;
  po.allow_offline = true;  // the record is kept locally whatever the network does
  po.lifetime = o_.ns->settings().record_lifetime_ms * 1000000;
  auto r = o_.ns->Publish(value, po);
  if (!r.ok()) {
    spdlog::warn("ipns: publishing {} for /ipns/{} failed: {}", value, t.id.ToString(), r.error().message);
    std::lock_guard lk(mu_);
    t.dirty = true;  // try again on the next round
    return;
  }
  for (const auto& p : r->pushes)
    if (!p.status.ok()) spdlog::warn("ipns: pushing /ipns/{} to {} failed: {}", t.id.ToString(), p.target, p.status.error().message);
  spdlog::debug("ipns: published /ipns/{} = {} (sequence {})", t.id.ToString(), value, r->sequence);
}

void IpnsArea::Start() {
  // Like Kubo's node identity, "self" always exists in a writable repo.
  if (!o_.read_only)
    if (auto self = o_.ns->keystore().Self(); !self.ok())
      spdlog::warn("ipns: could not create the self key: {}", self.error().message);
  for (const auto& k : Keys()) {
    if (!o_.repo->GetMeta(RootKeyFor(k.id)).ok()) continue;
    auto t = OpenOwnTree(k);
    if (!t.ok()) spdlog::warn("ipns: could not open the tree of key {}: {}", k.name, t.error().message);
  }
  std::lock_guard lk(mu_);
  if (!publisher_.joinable() && !closed_) publisher_ = std::thread([this] { PublisherLoop(); });
}

void IpnsArea::PublisherLoop() {
  auto last_republish = std::chrono::steady_clock::now();
  const auto period = std::chrono::milliseconds(o_.ns->settings().republish_period_ms);
  std::unique_lock lk(mu_);
  while (!stop_) {
    if (pending_inval_.empty()) cv_.wait_for(lk, std::chrono::seconds(1));
    if (stop_) break;
    auto now = std::chrono::steady_clock::now();
    std::vector<std::shared_ptr<OwnTree>> due;
    for (auto& [id, t] : own_)
      if (t->dirty && now - t->last_publish >= std::chrono::seconds(1)) {
        t->dirty = false;
        t->last_publish = now;
        due.push_back(t);
      }
    bool republish = now - last_republish >= period;
    std::vector<std::string> inval;
    inval.swap(pending_inval_);
    auto invalidate = invalidate_;
    lk.unlock();
    if (invalidate)
      for (const auto& n : inval) invalidate(n);
    for (auto& t : due) PublishTree(*t);
    if (republish && !o_.read_only) {
      last_republish = now;
      const auto& s = o_.ns->settings();
      // Re-sign a record once it has aged a period (Kubo: same sequence, fresh EOL).
      auto n = o_.ns->Republish((s.record_lifetime_ms - s.republish_period_ms) * 1000000);
      if (!n.ok()) spdlog::warn("ipns: republishing failed: {}", n.error().message);
    }
    lk.lock();
  }
}

void IpnsArea::Close() {
  std::vector<std::shared_ptr<OwnTree>> trees;
  {
    std::lock_guard lk(mu_);
    if (closed_) return;
    closed_ = true;
    stop_ = true;
    cv_.notify_all();
  }
  if (publisher_.joinable()) publisher_.join();
  {
    std::lock_guard lk(mu_);
    for (auto& [id, t] : own_) trees.push_back(t);
  }
  for (auto& t : trees) {
    auto st = t->tree->Close();
    if (!st.ok()) spdlog::error("ipns: committing the tree of /ipns/{} failed: {}", t->id.ToString(), st.error().message);
    PublishTree(*t);
  }
  o_.ns->SetOnChange(nullptr);
}

Result<std::shared_ptr<Node>> IpnsArea::Lookup(std::string_view name) {
  std::vector<KeyInfo> keys = Keys();
  for (const auto& k : keys)
    if (k.name == name && name != k.id.ToString()) return std::shared_ptr<Node>(new SymlinkNode(k.id.ToString(), o_.owner));
  auto target = ParseIpnsTarget(name);
  if (!target.ok()) return MakeError(Errc::kNotFound, target.error().message);
  if (auto* n = std::get_if<IpnsName>(&*target)) {
    for (const auto& k : keys)
      if (k.id == *n) {
        // One directory per key: other spellings point at the canonical one.
        if (name != k.id.ToString()) return std::shared_ptr<Node>(new SymlinkNode(k.id.ToString(), o_.owner));
        IPFSKIT_ASSIGN_OR_RETURN(auto t, OpenOwnTree(k));
        return t->root;
      }
  }
  IPFSKIT_ASSIGN_OR_RETURN(IpnsResolution res, o_.ns->Resolve("/ipns/" + std::string(name)));
  // res.path: /ipfs/<cid>[/a/b]
  std::string_view p = std::string_view(res.path).substr(6);
  size_t slash = p.find('/');
  IPFSKIT_ASSIGN_OR_RETURN(Cid cid, Cid::Parse(p.substr(0, slash)));
  IPFSKIT_ASSIGN_OR_RETURN(std::shared_ptr<Node> node, MakeIpfsNode(o_.ipfs, cid));
  while (slash != std::string_view::npos) {
    p = p.substr(slash + 1);
    slash = p.find('/');
    std::string_view part = p.substr(0, slash);
    if (part.empty()) continue;
    IPFSKIT_ASSIGN_OR_RETURN(node, node->Lookup(part));
  }
  return std::shared_ptr<Node>(new IpnsNameNode(std::string(name), std::move(res), std::move(node)));
}

Result<std::vector<DirItem>> IpnsArea::List() {
  std::vector<DirItem> items;
  std::set<std::string> seen;
  for (const auto& k : Keys()) {
    std::string id = k.id.ToString();
    if (seen.insert(id).second) items.push_back({id, nullptr});
    if (seen.insert(k.name).second) items.push_back({k.name, nullptr});
  }
  for (auto& n : o_.ns->RecentNames())
    if (seen.insert(n).second) items.push_back({std::move(n), nullptr});
  return items;
}

}  // namespace ipfskit::fs
