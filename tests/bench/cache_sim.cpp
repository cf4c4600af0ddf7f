// Trace-driven comparison of cache replacement policies: ARC (core/cache/arc_policy.h, the one
// the block cache uses), LRU, and Belady's OPT (MIN: evict the block whose next use is farthest;
// an upper bound no online policy can beat). Unit-size blocks, hit ratio over the whole trace.
//
// Usage: cache_sim [--length N] [--universe U] [--markdown]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <list>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/cache/arc_policy.h"

namespace {

using Trace = std::vector<uint64_t>;

class Zipf {
 public:
  Zipf(uint64_t n, double alpha) : cdf_(n) {
    double sum = 0;
    for (uint64_t i = 0; i < n; ++i) sum += 1.0 / std::pow(static_cast<double>(i + 1), alpha);
    double acc = 0;
    for (uint64_t i = 0; i < n; ++i) {
      acc += 1.0 / std::pow(static_cast<double>(i + 1), alpha) / sum;
      cdf_[i] = acc;
    }
  }
  uint64_t operator()(std::mt19937_64& rng) {
    double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return static_cast<uint64_t>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
  }

 private:
  std::vector<double> cdf_;
};

// Ranks are scattered over the key space so popularity is not correlated with key order.
uint64_t Scatter(uint64_t rank) { return rank * 0x9E3779B97F4A7C15ull; }

Trace ZipfTrace(size_t len, uint64_t universe, double alpha, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Zipf z(universe, alpha);
  Trace t(len);
  for (auto& k : t) k = Scatter(z(rng));
  return t;
}

Trace LoopTrace(size_t len, uint64_t loop) {
  Trace t(len);
  for (size_t i = 0; i < len; ++i) t[i] = Scatter(i % loop);
  return t;
}

// Zipf traffic interrupted every `period` accesses by a sequential scan of `scan` keys that
// are never used again (a backup, a `grep -r`, a one-off large file read).
Trace ZipfWithScans(size_t len, uint64_t universe, double alpha, size_t period, size_t scan, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Zipf z(universe, alpha);
  Trace t;
  t.reserve(len);
  uint64_t fresh = uint64_t{1} << 62;
  while (t.size() < len) {
    for (size_t i = 0; i < period && t.size() < len; ++i) t.push_back(Scatter(z(rng)));
    for (size_t i = 0; i < scan && t.size() < len; ++i) t.push_back(fresh++);
  }
  return t;
}

// A working set of `ws` keys (zipf inside it) that moves by half its size every `phase` accesses.
Trace ShiftingTrace(size_t len, uint64_t ws, double alpha, size_t phase, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Zipf z(ws, alpha);
  Trace t(len);
  for (size_t i = 0; i < len; ++i) {
    uint64_t base = (i / phase) * (ws / 2);
    t[i] = Scatter(base + z(rng));
  }
  return t;
}

double RunArc(const Trace& t, size_t c) {
  ipfskit::ArcPolicy<uint64_t> arc(c);
  size_t hits = 0;
  for (uint64_t k : t) hits += arc.Access(k) ? 1 : 0;
  return static_cast<double>(hits) / static_cast<double>(t.size());
}

double RunLru(const Trace& t, size_t c) {
  std::list<uint64_t> order;  // front = MRU
  std::unordered_map<uint64_t, std::list<uint64_t>::iterator> where;
  where.reserve(c * 2);
  size_t hits = 0;
  for (uint64_t k : t) {
    auto it = where.find(k);
    if (it != where.end()) {
      ++hits;
      order.splice(order.begin(), order, it->second);
      continue;
    }
    if (order.size() == c) {
      where.erase(order.back());
      order.pop_back();
    }
    order.push_front(k);
    where[k] = order.begin();
  }
  return static_cast<double>(hits) / static_cast<double>(t.size());
}

double RunOpt(const Trace& t, size_t c) {
  const size_t n = t.size();
  std::vector<size_t> next(n);
  std::unordered_map<uint64_t, size_t> last;
  for (size_t i = n; i-- > 0;) {
    auto it = last.find(t[i]);
    next[i] = it == last.end() ? n + i : it->second;  // never again: farther than anything
    last[t[i]] = i;
  }
  std::set<std::pair<size_t, uint64_t>> by_next;  // resident keys by next use
  std::unordered_map<uint64_t, size_t> resident;   // key -> its next use
  size_t hits = 0;
  for (size_t i = 0; i < n; ++i) {
    uint64_t k = t[i];
    auto it = resident.find(k);
    if (it != resident.end()) {
      ++hits;
      by_next.erase({it->second, k});
      it->second = next[i];
      by_next.insert({next[i], k});
      continue;
    }
    if (resident.size() == c) {
      auto victim = std::prev(by_next.end());
      resident.erase(victim->second);
      by_next.erase(victim);
    }
    resident[k] = next[i];
    by_next.insert({next[i], k});
  }
  return static_cast<double>(hits) / static_cast<double>(n);
}

struct Row {
  std::string trace;
  bool scan_mixed;
  size_t cache;
  double arc, lru, opt;
};

}  // namespace

int main(int argc, char** argv) {
  size_t len = 1000000;
  uint64_t universe = 100000;
  bool markdown = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--length") && i + 1 < argc) len = std::strtoull(argv[++i], nullptr, 10);
    else if (!std::strcmp(argv[i], "--universe") && i + 1 < argc) universe = std::strtoull(argv[++i], nullptr, 10);
    else if (!std::strcmp(argv[i], "--markdown")) markdown = true;
    else {
      std::fprintf(stderr, "usage: %s [--length N] [--universe U] [--markdown]\n", argv[0]);
      return 2;
    }
  }
  const std::vector<size_t> sizes = {universe / 100, universe / 20, universe / 10};
  const size_t cmax = sizes.back();
  struct Spec {
    std::string name;
    bool scan_mixed;
    Trace trace;
  };
  std::vector<Spec> specs;
  specs.push_back({"zipf a=0.8", false, ZipfTrace(len, universe, 0.8, 1)});
  specs.push_back({"zipf a=1.0", false, ZipfTrace(len, universe, 1.0, 2)});
  specs.push_back({"loop " + std::to_string(cmax * 6 / 5) + " (1.2x largest cache)", false, LoopTrace(len, cmax * 6 / 5)});
  specs.push_back({"zipf a=0.8 + scans (" + std::to_string(cmax) + " new keys every " + std::to_string(cmax * 2) + ")",
                   true, ZipfWithScans(len, universe, 0.8, cmax * 2, cmax, 3)});
  specs.push_back({"zipf a=1.0 + scans (" + std::to_string(cmax) + " new keys every " + std::to_string(cmax * 2) + ")",
                   true, ZipfWithScans(len, universe, 1.0, cmax * 2, cmax, 4)});
  specs.push_back({"shifting working set (" + std::to_string(cmax / 2) + " keys, moves half every " +
                       std::to_string(len / 10) + ")",
                   false, ShiftingTrace(len, cmax / 2, 0.6, len / 10, 5)});

  std::vector<Row> rows;
  for (const auto& s : specs)
    for (size_t c : sizes) rows.push_back({s.name, s.scan_mixed, c, RunArc(s.trace, c), RunLru(s.trace, c), RunOpt(s.trace, c)});

  int shortfalls = 0;
  if (markdown) {
    std::printf("| trace | cache (blocks) | ARC %% | LRU %% | OPT %% | ARC − LRU (points) | target |\n");
    std::printf("|---|---:|---:|---:|---:|---:|---|\n");
  } else {
    std::printf("%-62s %8s %8s %8s %8s %8s  %s\n", "trace", "cache", "ARC%", "LRU%", "OPT%", "ARC-LRU", "target");
  }
  for (const auto& r : rows) {
    const double d = 100 * (r.arc - r.lru);
    // Targets from issue 4: ARC >= LRU everywhere (0.05-point tolerance for ties on loops where
    // both are ~0), >= 10 points above LRU on the scan-mixed traces.
    bool ok = d >= -0.05 && (!r.scan_mixed || d >= 10);
    if (!ok) ++shortfalls;
    const char* verdict = ok ? "met" : "SHORTFALL";
    if (markdown)
      std::printf("| %s | %zu | %.1f | %.1f | %.1f | %+.1f | %s |\n", r.trace.c_str(), r.cache, 100 * r.arc,
                  100 * r.lru, 100 * r.opt, d, verdict);
    else
      std::printf("%-62s %8zu %8.1f %8.1f %8.1f %+8.1f  %s\n", r.trace.c_str(), r.cache, 100 * r.arc, 100 * r.lru,
                  100 * r.opt, d, verdict);
  }
  std::printf("%s%d of %zu rows miss a target (trace length %zu, universe %llu keys)\n", markdown ? "\n" : "",
              shortfalls, rows.size(), len, static_cast<unsigned long long>(universe));
  return 0;
}
