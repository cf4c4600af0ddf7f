// Keystore: our private keys, one file per key under <repo>/keystore (mode 0700), each file
// mode 0600 holding the libp2p PrivateKey protobuf, named as Kubo names them: "key_" + base32
// (lower case, no padding) of the key name. Writes go to a temporary file (fsynced) that is then
// linked (a new key: link(2) fails rather than replace one created meanwhile) or renamed (Rename
// with overwrite) into place, and the directory is fsynced, so a killed process leaves the old
// key or the new one, never a torn one.
//
// Key names: 1-156 bytes (so that "key_" + base32 fits in a 255-byte file name) with no control
// characters, no '/', not starting with '.'; "self" is reserved for the node's own key, created
// (Ed25519) on first use by Self().
//
// Thread safety: one process may use a Keystore from any thread; across processes, files are
// replaced atomically and a rename/remove of a key another process is using is visible to it on
// its next Get.
#pragma once

#include <string>
#include <vector>

#include "core/ipns/keys.h"
#include "core/ipns/name.h"
#include "core/util/result.h"

namespace ipfskit {

struct KeyInfo {
  std::string name;
  IpnsName id;
  KeyType type = KeyType::kEd25519;
};

class Keystore {
 public:
  // Opens (creating) the directory.
  static Result<Keystore> Open(std::string dir);

  // kNotFound "no key named NAME".
  Result<PrivateKey> Get(const std::string& name) const;
  // kExists when the name is taken (or is "self"); kInvalidArgument for a bad name.
  Status Put(const std::string& name, const PrivateKey& key);
  // The "self" key, generated on first call.
  Result<PrivateKey> Self();
  // Sorted by name, "self" first when it exists.
  Result<std::vector<KeyInfo>> List() const;
  // The key whose IPNS name is `id`, if we hold it.
  Result<std::optional<KeyInfo>> FindById(const IpnsName& id) const;
  Status Remove(const std::string& name);  // "self" refused
  // kExists unless overwrite; "self" on either side refused.
  Status Rename(const std::string& from, const std::string& to, bool overwrite);

  static Status CheckName(const std::string& name);
  const std::string& dir() const { return dir_; }

 private:
  explicit Keystore(std::string dir) : dir_(std::move(dir)) {}
  std::string PathFor(const std::string& name) const;
  std::string dir_;
};

}  // namespace ipfskit
