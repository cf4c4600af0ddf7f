// key gen|list|rm|rename|export|import, as Kubo's `ipfs key` on <repo>/keystore.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "core/ipns/keystore.h"
#include "fuse/cli/cli.h"

namespace ipfskit::cli {

namespace {

constexpr const char* kProtobufFormat = "libp2p-protobuf-cleartext";
constexpr const char* kPemFormat = "pem-pkcs8-cleartext";

Result<Keystore> OpenKeystore(Context& ctx) {
  auto repo = ctx.OpenRepo();  // only for its "no repo; run ipfskit init" error
  if (!repo.ok()) return repo.take_error();
  return Keystore::Open(ctx.RepoPath() + "/keystore");
}

Status CheckFormat(const std::string& format) {
  if (format == kProtobufFormat || format == kPemFormat) return Status::Ok();
  return MakeError(Errc::kInvalidArgument, "unrecognized format '" + format + "': use " + kProtobufFormat + " or " +
                                               kPemFormat);
}

Result<std::string> ReadWholeFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return MakeError(Errc::kIo, "cannot open " + path + ": " + std::strerror(errno));
  std::string out;
  char buf[8192];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) {
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > (1 << 20)) {
      ::close(fd);
      return MakeError(Errc::kInvalidArgument, path + " is too large for a key");
    }
  }
  int err = errno;
  ::close(fd);
  if (n < 0) return MakeError(Errc::kIo, "cannot read " + path + ": " + std::strerror(err));
  return out;
}

// A private key file: 0600 from the start, whatever the umask.
Status WritePrivateFile(const std::string& path, std::string_view data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return MakeError(Errc::kIo, "cannot create " + path + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return MakeError(Errc::kIo, "cannot write " + path + ": " + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) return MakeError(Errc::kIo, "cannot write " + path + ": " + std::strerror(errno));
  return Status::Ok();
}

nlohmann::json KeyJson(const std::string& name, const IpnsName& id) { return {{"Name", name}, {"Id", id.ToString()}}; }

}  // namespace

void RegisterKeyCommands(CLI::App& app, Context& ctx) {
  auto* key = app.add_subcommand("key", "Create and manage IPNS keys (as `ipfs key`).");
  key->require_subcommand(1);
  {
    auto name = std::make_shared<std::string>();
    auto type = std::make_shared<std::string>("ed25519");
    auto size = std::make_shared<int>(0);
    auto* gen = key->add_subcommand("gen", "Create a new key and print its IPNS name (k51…).");
    gen->add_option("name", *name, "Name of the key to create")->required();
    gen->add_option("-t,--type", *type, "ed25519 (default), rsa or secp256k1");
    gen->add_option("-s,--size", *size, "RSA key size in bits (2048 to 8192, default 2048)");
    gen->callback([&ctx, name, type, size] {
      auto t = ParseKeyTypeName(*type);
      if (!t.ok()) return ctx.Fail(t.error());
      auto ks = OpenKeystore(ctx);
      if (!ks.ok()) return ctx.Fail(ks.error());
      Status valid = Keystore::CheckName(*name);
      if (!valid.ok()) return ctx.Fail(valid.error());
      if (*name == "self") return ctx.Fail("cannot create key with name 'self'");
      if (ks->Get(*name).ok()) return ctx.Fail("key with name '" + *name + "' already exists");
      auto k = PrivateKey::Generate(*t, *size);
      if (!k.ok()) return ctx.Fail(k.error());
      Status st = ks->Put(*name, *k);
      if (!st.ok()) return ctx.Fail(st.error());
      IpnsName id = IpnsName::FromPublicKey(k->Public());
      if (ctx.global.json) std::cout << KeyJson(*name, id).dump() << "\n";
      else std::cout << id.ToString() << "\n";
    });
  }
  {
    auto longform = std::make_shared<bool>(false);
    auto* list = key->add_subcommand("list", "List all local keys (names; with -l, '<id> <name>').");
    list->alias("ls");
    list->add_flag("-l", *longform, "Show the IPNS name (k51…) of each key too");
    list->callback([&ctx, longform] {
      auto ks = OpenKeystore(ctx);
      if (!ks.ok()) return ctx.Fail(ks.error());
      auto self = ks->Self();  // Kubo always has a self key; ours is made on first use
      if (!self.ok()) return ctx.Fail(self.error());
      auto keys = ks->List();
      if (!keys.ok()) return ctx.Fail(keys.error());
      if (ctx.global.json) {
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& k : *keys) arr.push_back(KeyJson(k.name, k.id));
        std::cout << nlohmann::json{{"Keys", arr}}.dump() << "\n";
        return;
      }
      size_t width = 0;
      for (const auto& k : *keys) width = std::max(width, k.id.ToString().size());
      for (const auto& k : *keys) {
        if (*longform) {
          std::string id = k.id.ToString();
          std::cout << id << std::string(width - id.size() + 1, ' ') << k.name << "\n";
        } else {
          std::cout << k.name << "\n";
        }
      }
    });
  }
  {
    auto names = std::make_shared<std::vector<std::string>>();
    auto longform = std::make_shared<bool>(false);
    auto* rm = key->add_subcommand("rm", "Remove keys.");
    rm->add_option("name", *names, "Names of the keys to remove")->required();
    rm->add_flag("-l", *longform, "Print '<id> <name>' for each removed key");
    rm->callback([&ctx, names, longform] {
      auto ks = OpenKeystore(ctx);
      if (!ks.ok()) return ctx.Fail(ks.error());
      nlohmann::json removed = nlohmann::json::array();
      // Check all first, so that a typo in the third name does not leave two removed.
      std::vector<IpnsName> ids;
      for (const auto& n : *names) {
        if (n == "self") return ctx.Fail("cannot remove key with name 'self'");
        auto k = ks->Get(n);
        if (!k.ok()) return ctx.Fail(k.error());
        ids.push_back(IpnsName::FromPublicKey(k->Public()));
      }
      for (size_t i = 0; i < names->size(); ++i) {
        Status st = ks->Remove((*names)[i]);
        if (!st.ok()) return ctx.Fail(st.error());
        if (ctx.global.json) removed.push_back(KeyJson((*names)[i], ids[i]));
        else if (*longform) std::cout << ids[i].ToString() << " " << (*names)[i] << "\n";
        else std::cout << (*names)[i] << "\n";
      }
      if (ctx.global.json) std::cout << nlohmann::json{{"Keys", removed}}.dump() << "\n";
    });
  }
  {
    auto from = std::make_shared<std::string>();
    auto to = std::make_shared<std::string>();
    auto force = std::make_shared<bool>(false);
    auto* rename = key->add_subcommand("rename", "Rename a key.");
    rename->add_option("old", *from, "Name of the key to rename")->required();
    rename->add_option("new", *to, "New name of the key")->required();
    rename->add_flag("-f,--force", *force, "Allow to overwrite an existing key");
    rename->callback([&ctx, from, to, force] {
      auto ks = OpenKeystore(ctx);
      if (!ks.ok()) return ctx.Fail(ks.error());
      auto k = ks->Get(*from);
      if (!k.ok() && *from != "self") return ctx.Fail(k.error());
      Status st = ks->Rename(*from, *to, *force);
      if (!st.ok()) return ctx.Fail(st.error());
      IpnsName id = IpnsName::FromPublicKey(k->Public());
      if (ctx.global.json) {
        std::cout << nlohmann::json{{"Was", *from}, {"Now", *to}, {"Id", id.ToString()}, {"Overwrite", *force}}.dump()
                  << "\n";
      } else {
        std::cout << "Key " << id.ToString() << " renamed to " << *to << (*force ? " with overwriting" : "") << "\n";
      }
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto output = std::make_shared<std::string>();
    auto format = std::make_shared<std::string>(kProtobufFormat);
    auto* exp = key->add_subcommand("export", "Export a private key to a file (<name>.key, or <name>.pem for PEM).");
    exp->footer("The file holds the private key in clear text: keep it safe. '-o -' writes to stdout.");
    exp->add_option("name", *name, "Name of the key to export")->required();
    exp->add_option("-o,--output", *output, "The path where the output should be stored");
    exp->add_option("-f,--format", *format, std::string(kProtobufFormat) + " (default) or " + kPemFormat);
    exp->callback([&ctx, name, output, format] {
      Status fmt = CheckFormat(*format);
      if (!fmt.ok()) return ctx.Fail(fmt.error());
      auto ks = OpenKeystore(ctx);
      if (!ks.ok()) return ctx.Fail(ks.error());
      auto k = *name == "self" ? ks->Self() : ks->Get(*name);
      if (!k.ok()) return ctx.Fail(k.error());
      std::string data;
      if (*format == kPemFormat) {
        auto pem = k->ToPkcs8Pem();
        if (!pem.ok()) return ctx.Fail(pem.error());
        data = *pem;
      } else {
        Bytes pb = k->ToProtobuf();
        data.assign(AsChars(pb));
      }
      if (*output == "-") {
        std::cout.write(data.data(), static_cast<std::streamsize>(data.size()));
        std::cout.flush();
        return;
      }
      std::string path = output->empty() ? *name + (*format == kPemFormat ? ".pem" : ".key") : *output;
      Status st = WritePrivateFile(path, data);
      if (!st.ok()) return ctx.Fail(st.error());
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto file = std::make_shared<std::string>();
    auto format = std::make_shared<std::string>(kProtobufFormat);
    auto* imp = key->add_subcommand("import", "Import a private key and print its IPNS name.");
    imp->add_option("name", *name, "Name to store the key under")->required();
    imp->add_option("file", *file, "The key file ('-' for stdin)")->required();
    imp->add_option("-f,--format", *format, std::string(kProtobufFormat) + " (default) or " + kPemFormat);
    imp->callback([&ctx, name, file, format] {
      Status fmt = CheckFormat(*format);
      if (!fmt.ok()) return ctx.Fail(fmt.error());
      auto ks = OpenKeystore(ctx);
      if (!ks.ok()) return ctx.Fail(ks.error());
      if (*name == "self") return ctx.Fail("cannot import key with name 'self'");
      Status valid = Keystore::CheckName(*name);
      if (!valid.ok()) return ctx.Fail(valid.error());
      auto data = ReadWholeFile(*file == "-" ? "/dev/stdin" : *file);
      if (!data.ok()) return ctx.Fail(data.error());
      auto k = *format == kPemFormat ? PrivateKey::FromPkcs8Pem(*data) : PrivateKey::FromProtobuf(AsBytes(*data));
      if (!k.ok()) return ctx.Fail(*file + ": " + k.error().message);
      Status st = ks->Put(*name, *k);
      if (!st.ok()) return ctx.Fail(st.error());
      IpnsName id = IpnsName::FromPublicKey(k->Public());
      if (ctx.global.json) std::cout << KeyJson(*name, id).dump() << "\n";
      else std::cout << id.ToString() << "\n";
    });
  }
}

}  // namespace ipfskit::cli
