// Counters behind /.ipfskit/stats. Lock-free; read as a JSON snapshot.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/util/result.h"

namespace ipfskit::fs {

enum class Op { kLookup, kGetattr, kOpen, kRead, kReaddir, kReadlink, kXattr, kWrite, kCreate, kOther, kCount };

class MountStats {
 public:
  void CountRequest(Op op) { requests_[static_cast<int>(op)].fetch_add(1, std::memory_order_relaxed); }
  void CountRead(uint64_t bytes) { bytes_read_.fetch_add(bytes, std::memory_order_relaxed); }
  void CountWrite(uint64_t bytes) { bytes_written_.fetch_add(bytes, std::memory_order_relaxed); }
  void CountError(Errc code) { errors_[static_cast<int>(code)].fetch_add(1, std::memory_order_relaxed); }
  void CountUnsafeName() { unsafe_names_.fetch_add(1, std::memory_order_relaxed); }
  // Extra sections (cache, sources, mfs, infer) contributed by other components.
  void AddSection(std::string name, std::function<nlohmann::json()> fn);
  nlohmann::json Snapshot() const;

 private:
  std::atomic<uint64_t> requests_[static_cast<int>(Op::kCount)] = {};
  std::atomic<uint64_t> errors_[32] = {};
  std::atomic<uint64_t> bytes_read_{0}, bytes_written_{0}, unsafe_names_{0};
  mutable std::mutex mu_;
  std::vector<std::pair<std::string, std::function<nlohmann::json()>>> sections_;
};

}  // namespace ipfskit::fs
