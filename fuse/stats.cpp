#include "fuse/stats.h"

namespace ipfskit::fs {

void MountStats::AddSection(std::string name, std::function<nlohmann::json()> fn) {
  std::lock_guard<std::mutex> lk(mu_);
  sections_.emplace_back(std::move(name), std::move(fn));
}

nlohmann::json MountStats::Snapshot() const {
  static const char* kOps[] = {"lookup", "getattr", "open", "read", "readdir", "readlink", "xattr", "write", "create", "other"};
  nlohmann::json req = nlohmann::json::object();
  uint64_t total = 0;
  for (int i = 0; i < static_cast<int>(Op::kCount); ++i) {
    uint64_t v = requests_[i].load(std::memory_order_relaxed);
    req[kOps[i]] = v;
    total += v;
  }
  req["total"] = total;
  nlohmann::json errs = nlohmann::json::object();
  for (int i = 0; i <= static_cast<int>(Errc::kInternal); ++i) {
    uint64_t v = errors_[i].load(std::memory_order_relaxed);
    if (v) errs[ErrcName(static_cast<Errc>(i))] = v;
  }
  nlohmann::json j = {{"requests", req},
                      {"bytes_read", bytes_read_.load()},
                      {"bytes_written", bytes_written_.load()},
                      {"errors", errs},
                      {"unsafe_names_hidden", unsafe_names_.load()}};
  std::lock_guard<std::mutex> lk(mu_);
  for (const auto& [name, fn] : sections_) j[name] = fn();
  return j;
}

}  // namespace ipfskit::fs
