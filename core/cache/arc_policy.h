// ArcPolicy: the Adaptive Replacement Cache policy of Megiddo & Modha (FAST'03), with no
// storage of its own. It decides which keys are resident; the caller keeps the data.
//
//   T1: resident, seen once recently        B1: ghosts evicted from T1 (keys only)
//   T2: resident, seen at least twice       B2: ghosts evicted from T2
//   p:  adaptive target size of T1. A hit in B1 grows p (recency was evicted too early),
//       a hit in B2 shrinks it (frequency was).
//
// Entries are weighted: capacity, p and list sizes are in the caller's units (bytes for the
// block cache, 1 per entry for the trace simulator). With every size 1 this is exactly the
// paper's ARC(c). Invariants kept: |T1|+|T2| <= c, |T1|+|B1| <= c, |T1|+|T2|+|B1|+|B2| <= 2c.
//
// Not thread-safe: the owner serialises access. Persistence: each entry carries a sequence
// number that increases every time it moves to the MRU end of a list, so the lists can be
// rebuilt (Restore in ascending seq order); TakeChanges reports what moved since last asked.
#pragma once

#include <algorithm>
#include <cstdint>
#include <list>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace ipfskit {

enum class ArcList : uint8_t { kNone = 0, kT1 = 1, kT2 = 2, kB1 = 3, kB2 = 4 };

template <typename K, typename Hash = std::hash<K>>
class ArcPolicy {
 public:
  struct EntryState {
    K key;
    ArcList list;  // kNone: forgotten
    uint64_t size;
    uint64_t seq;
  };

  explicit ArcPolicy(uint64_t capacity) : c_(capacity) {}

  // A lookup. Resident keys move to the MRU end of T2 and true is returned; ghosts and unknown
  // keys change nothing (the caller fetches, then calls Admit).
  bool Touch(const K& k) {
    auto it = map_.find(k);
    if (it == map_.end()) return false;
    Node& n = it->second;
    if (n.list != ArcList::kT1 && n.list != ArcList::kT2) return false;
    MoveTo(k, n, ArcList::kT2);
    return true;
  }

  // Makes k resident after a miss. A ghost hit adapts p. Resident entries evicted to make room
  // are appended to *evicted (their data should be dropped). Returns false and admits nothing
  // when size exceeds the capacity. An already resident key is treated as Touch.
  bool Admit(const K& k, uint64_t size, std::vector<K>* evicted) {
    if (size > c_) return false;
    auto it = map_.find(k);
    if (it != map_.end()) {
      Node& n = it->second;
      if (n.list == ArcList::kT1 || n.list == ArcList::kT2) {
        MoveTo(k, n, ArcList::kT2);
        return true;
      }
      const bool in_b1 = n.list == ArcList::kB1;
      // Case II / III: the delta is the ratio of the other ghost list to this one, at least 1.
      const uint64_t b1 = Size(ArcList::kB1), b2 = Size(ArcList::kB2);
      if (in_b1) {
        const uint64_t delta = b1 >= b2 ? size : Scale(size, b2, b1);
        p_ = std::min(c_, p_ + delta);
      } else {
        const uint64_t delta = b2 >= b1 ? size : Scale(size, b1, b2);
        p_ = delta > p_ ? 0 : p_ - delta;
      }
      Unlink(k, n);
      map_.erase(it);
      Replace(!in_b1, size, evicted);
      Insert(k, ArcList::kT2, size);
      TrimGhosts();
      return true;
    }
    // Case IV: a key in no list.
    if (Size(ArcList::kT1) + Size(ArcList::kB1) + size > c_) {
      // L1 full: drop B1's oldest ghosts; if T1 alone is still too big, discard from T1.
      while (Size(ArcList::kT1) + Size(ArcList::kB1) + size > c_ && !list(ArcList::kB1).empty())
        Forget(list(ArcList::kB1).front());
      while (Size(ArcList::kT1) + size > c_ && !list(ArcList::kT1).empty()) {
        K victim = list(ArcList::kT1).front();
        Forget(victim);
        ++evictions_;
        if (evicted) evicted->push_back(std::move(victim));
      }
    } else {
      while (Total() + size > 2 * c_ && !list(ArcList::kB2).empty()) Forget(list(ArcList::kB2).front());
    }
    Replace(false, size, evicted);
    Insert(k, ArcList::kT1, size);
    TrimGhosts();
    return true;
  }

  // Simulator convenience: Touch, and Admit on a miss. Returns whether it was a hit.
  bool Access(const K& k, uint64_t size = 1, std::vector<K>* evicted = nullptr) {
    if (Touch(k)) return true;
    Admit(k, size, evicted);
    return false;
  }

  // Forgets k wherever it is (e.g. its stored data went missing).
  void Erase(const K& k) {
    if (map_.count(k)) Forget(k);
  }

  ArcList Where(const K& k) const {
    auto it = map_.find(k);
    return it == map_.end() ? ArcList::kNone : it->second.list;
  }
  bool Resident(const K& k) const {
    ArcList l = Where(k);
    return l == ArcList::kT1 || l == ArcList::kT2;
  }

  uint64_t capacity() const { return c_; }
  uint64_t p() const { return p_; }
  uint64_t Size(ArcList l) const { return bytes_[Index(l)]; }
  size_t Count(ArcList l) const { return lists_[Index(l)].size(); }
  uint64_t ResidentBytes() const { return Size(ArcList::kT1) + Size(ArcList::kT2); }
  uint64_t evictions() const { return evictions_; }
  // Keys of one list, LRU first.
  std::vector<K> Keys(ArcList l) const { return {list(l).begin(), list(l).end()}; }

  // --- persistence ---
  void set_track_changes(bool on) {
    track_ = on;
    if (!on) dirty_.clear();
  }
  // Entries whose list or position changed since the last call (kNone: forgotten).
  std::vector<EntryState> TakeChanges() {
    std::vector<EntryState> out;
    out.reserve(dirty_.size());
    for (const K& k : dirty_) {
      auto it = map_.find(k);
      if (it == map_.end())
        out.push_back({k, ArcList::kNone, 0, 0});
      else
        out.push_back({k, it->second.list, it->second.size, it->second.seq});
    }
    dirty_.clear();
    return out;
  }
  bool HasChanges() const { return !dirty_.empty(); }
  // Reports every entry at the next TakeChanges (after the store's copy was dropped).
  void MarkAllChanged() {
    if (!track_) return;
    for (const auto& [k, n] : map_) dirty_.insert(k);
  }
  // Rebuilds one entry at the MRU end of its list; call in ascending seq order. No eviction
  // happens here: the caller restores a state that this policy wrote.
  void Restore(const K& k, ArcList l, uint64_t size, uint64_t seq) {
    if (l == ArcList::kNone || map_.count(k)) return;
    Insert(k, l, size);
    map_.find(k)->second.seq = seq;
    seq_ = std::max(seq_, seq);
    dirty_.erase(k);
  }
  void RestoreP(uint64_t p) { p_ = std::min(p, c_); }
  // After a restore with a smaller capacity than before: evicts until the invariants hold.
  void Shrink(std::vector<K>* evicted) {
    Replace(false, 0, evicted);
    TrimGhosts();
  }

 private:
  struct Node {
    ArcList list;
    typename std::list<K>::iterator it;
    uint64_t size;
    uint64_t seq;
  };

  static size_t Index(ArcList l) { return static_cast<size_t>(l) - 1; }
  std::list<K>& list(ArcList l) { return lists_[Index(l)]; }
  const std::list<K>& list(ArcList l) const { return lists_[Index(l)]; }
  uint64_t Total() const { return bytes_[0] + bytes_[1] + bytes_[2] + bytes_[3]; }
  // size * num / den, at least size, without overflow for realistic values.
  static uint64_t Scale(uint64_t size, uint64_t num, uint64_t den) {
    if (den == 0) return size;
    long double v = static_cast<long double>(size) * num / den;
    return std::max<uint64_t>(size, static_cast<uint64_t>(v));
  }

  void Insert(const K& k, ArcList l, uint64_t size) {
    auto& lst = list(l);
    lst.push_back(k);
    map_[k] = Node{l, std::prev(lst.end()), size, ++seq_};
    bytes_[Index(l)] += size;
    if (track_) dirty_.insert(k);
  }
  void Unlink(const K& k, Node& n) {
    list(n.list).erase(n.it);
    bytes_[Index(n.list)] -= n.size;
    if (track_) dirty_.insert(k);
  }
  void MoveTo(const K& k, Node& n, ArcList to) {
    auto& from = list(n.list);
    auto& dst = list(to);
    dst.splice(dst.end(), from, n.it);
    bytes_[Index(n.list)] -= n.size;
    bytes_[Index(to)] += n.size;
    n.list = to;
    n.seq = ++seq_;
    if (track_) dirty_.insert(k);
  }
  void Forget(K k) {  // by value: k may alias a list element
    auto it = map_.find(k);
    Unlink(k, it->second);
    map_.erase(it);
  }

  // REPLACE(x, p) repeated until `need` more fits among the resident entries.
  void Replace(bool x_in_b2, uint64_t need, std::vector<K>* evicted) {
    while (ResidentBytes() + need > c_ && ResidentBytes() > 0) {
      const uint64_t t1 = Size(ArcList::kT1);
      const bool from_t1 = !list(ArcList::kT1).empty() &&
                           (t1 > p_ || (x_in_b2 && t1 >= p_) || list(ArcList::kT2).empty());
      const ArcList src = from_t1 ? ArcList::kT1 : ArcList::kT2;
      const ArcList ghost = from_t1 ? ArcList::kB1 : ArcList::kB2;
      K victim = list(src).front();
      MoveTo(victim, map_.find(victim)->second, ghost);
      ++evictions_;
      if (evicted) evicted->push_back(std::move(victim));
    }
  }

  // Keeps the ghost lists within the directory bounds.
  void TrimGhosts() {
    while (Size(ArcList::kT1) + Size(ArcList::kB1) > c_ && !list(ArcList::kB1).empty())
      Forget(list(ArcList::kB1).front());
    while (Total() > 2 * c_) {
      if (!list(ArcList::kB2).empty())
        Forget(list(ArcList::kB2).front());
      else if (!list(ArcList::kB1).empty())
        Forget(list(ArcList::kB1).front());
      else
        break;
    }
  }

  uint64_t c_;
  uint64_t p_ = 0;
  uint64_t seq_ = 0;
  uint64_t evictions_ = 0;
  std::list<K> lists_[4];
  uint64_t bytes_[4] = {0, 0, 0, 0};
  std::unordered_map<K, Node, Hash> map_;
  bool track_ = false;
  std::unordered_set<K, Hash> dirty_;
};

}  // namespace ipfskit
