// name publish|resolve|inspect|get|put|republish: IPNS as Kubo's `ipfs name`.
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "fuse/cli/cli.h"

namespace ipfskit::cli {

namespace {

// Kubo reads at most 1 MiB for `name put` / `name inspect` and refuses records over 10 KiB.
constexpr size_t kMaxRecordRead = 1 << 20;

Result<Bytes> ReadRecordFile(const std::string& path) {
  std::ifstream f;
  std::istream* in = &std::cin;
  if (path != "-") {
    f.open(path, std::ios::binary);
    if (!f) return MakeError(Errc::kNotFound, "cannot open " + path);
    in = &f;
  }
  Bytes data;
  char buf[8192];
  while (*in) {
    in->read(buf, sizeof buf);
    data.insert(data.end(), buf, buf + in->gcount());
    if (data.size() > kMaxRecordRead) return MakeError(Errc::kInvalidArgument, "record file is over 1 MiB");
  }
  return data;
}

std::string Duration(uint64_t ns) {
  // Go's Duration.String for whole units, as Kubo prints the TTL ("5m0s", "1h0m0s").
  uint64_t s = ns / 1000000000;
  if (ns % 1000000000 != 0 || s == 0) return std::to_string(ns / 1000000) + "ms";
  std::string out;
  if (s >= 3600) out += std::to_string(s / 3600) + "h";
  if (s >= 60) out += std::to_string(s / 60 % 60) + "m";
  out += std::to_string(s % 60) + "s";
  return out;
}

// "/ipfs/CID/…", "CID/…" or "/ipns/…" as Kubo's publish takes it.
std::string NormalizeValue(const std::string& v) {
  if (v.rfind("/ipfs/", 0) == 0 || v.rfind("/ipns/", 0) == 0) return v;
  return "/ipfs/" + v;
}

void PrintPublished(Context& ctx, const PublishResult& r, bool quieter) {
  if (ctx.global.json) {
    nlohmann::json pushes = nlohmann::json::array();
    for (const auto& p : r.pushes)
      pushes.push_back({{"Target", p.target}, {"Ok", p.status.ok()}, {"Error", p.status.ok() ? "" : p.status.error().message}});
    std::cout << nlohmann::json{{"Name", r.name.ToString()}, {"Value", r.value}, {"Sequence", r.sequence},
                                {"Pushes", pushes}}.dump()
              << "\n";
  } else if (quieter) {
    std::cout << r.name.ToString() << "\n";
  } else {
    std::cout << "Published to " << r.name.ToString() << ": " << r.value << "\n";
  }
  for (const auto& p : r.pushes)
    std::cerr << (p.status.ok() ? "pushed to " : "Warning: pushing to ") << p.target
              << (p.status.ok() ? "" : " failed: " + p.status.error().message) << "\n";
}

// A publish from the CLI while a mount serves the key's tree: move the tree to the new value
// (the mount adopts a changed root while it has no unsaved changes), so the next commit there
// does not publish the old tree over it. Only for directories, as the tree's root must be one.
void MoveOwnTree(Context& ctx, Repo& repo, const IpnsName& name, const std::string& value) {
  const std::string key = "ipns." + name.ToString() + ".root";
  if (!repo.GetMeta(key).ok() || value.rfind("/ipfs/", 0) != 0) return;
  auto cid = ResolveIpfsPath(ctx, value);
  if (!cid.ok()) return;
  auto reader = ctx.Reader();
  if (!reader.ok()) return;
  auto info = (*reader)->Stat(*cid);
  if (info.ok() && info->is_dir()) (void)repo.PutMeta(key, cid->bytes());
}

}  // namespace

void RegisterNameCommands(CLI::App& app, Context& ctx) {
  auto* name = app.add_subcommand("name", "Publish and resolve IPNS names (as `ipfs name`).");
  name->require_subcommand(1);

  {
    struct Opts {
      std::string path, key = "self", lifetime = "48h", ttl;
      int64_t sequence = -1;
      bool v1compat = true, allow_offline = false, resolve = true, quieter = false;
    };
    auto o = std::make_shared<Opts>();
    auto* pub = name->add_subcommand("publish", "Sign a record that points NAME at an /ipfs path and publish it.");
    pub->footer("Sequence as Kubo: unchanged value keeps it, a new value adds one; --sequence must be higher.\n"
                "The record is stored in the repo (it resolves at once, offline too) and pushed to every\n"
                "ipns.publishers endpoint (delegated routing PUT) and to Kubo when kubo_api is set.");
    pub->add_option("ipfs-path", o->path, "/ipfs/<cid>[/path]")->required();
    pub->add_option("-k,--key", o->key, "Key name (ipfskit key list), default self");
    pub->add_option("-t,--lifetime", o->lifetime, "How long the record is valid, e.g. 48h");
    pub->add_option("--ttl", o->ttl, "How long resolvers may cache it, e.g. 5m (default 5m, capped to the lifetime)");
    pub->add_option("--sequence", o->sequence, "Sequence number (must be higher than the current one)");
    pub->add_option("--v1compat", o->v1compat, "Also write the legacy V1 fields (default true)");
    pub->add_flag("--allow-offline", o->allow_offline, "Store the record locally when no publisher is configured or reachable");
    pub->add_option("--resolve", o->resolve, "Check that the path resolves first (default true)");
    pub->add_flag("-Q,--quieter", o->quieter, "Print only the name");
    pub->callback([&ctx, o] {
      auto names = ctx.Names();
      if (!names.ok()) return ctx.Fail(names.error());
      std::string value = NormalizeValue(o->path);
      if (o->resolve) {
        auto cid = ResolveIpfsPath(ctx, value);
        if (!cid.ok()) return ctx.Fail("cannot publish " + value + ": " + cid.error().message);
      }
      PublishOptions po;
      po.key = o->key;
      auto life = ParseGoDuration(o->lifetime);
      if (!life.ok()) return ctx.Fail("--lifetime: " + life.error().message);
      po.lifetime = *life * 1000000;
      if (!o->ttl.empty()) {
        auto t = ParseGoDuration(o->ttl);
        if (!t.ok()) return ctx.Fail("--ttl: " + t.error().message);
        po.ttl_ns = static_cast<uint64_t>(*t) * 1000000;
      }
      if (o->sequence >= 0) po.sequence = static_cast<uint64_t>(o->sequence);
      po.v1compat = o->v1compat;
      po.allow_offline = o->allow_offline || ctx.global.offline;
      auto r = (*names)->Publish(value, po);
      if (!r.ok()) return ctx.Fail(r.error());
      auto repo = ctx.OpenRepo();
      if (repo.ok()) MoveOwnTree(ctx, **repo, r->name, value);
      PrintPublished(ctx, *r, o->quieter);
      bool any_ok = r->pushes.empty();
      for (const auto& p : r->pushes) any_ok = any_ok || p.status.ok();
      if (!any_ok && !po.allow_offline)
        ctx.Fail("the record is stored locally, but no publisher accepted it (use --allow-offline to accept that)");
    });
  }

  {
    struct Opts {
      std::string name;
      bool recursive = true, nocache = false;
    };
    auto o = std::make_shared<Opts>();
    auto* res = name->add_subcommand("resolve", "Resolve an IPNS name or DNSLink domain to its /ipfs path.");
    res->footer("Records are verified locally. Cached values are used for their TTL; stale ones are served\n"
                "while a refresh runs, and while every source fails, until the record's EOL.");
    res->add_option("name", o->name, "k51…, 12D3KooW…, a domain, or /ipns/<name>[/path]; default: self");
    res->add_option("-r,--recursive", o->recursive, "Resolve until the result is an /ipfs path (default true)");
    res->add_flag("-n,--nocache", o->nocache, "Ask the sources even when the cache is fresh");
    res->callback([&ctx, o] {
      auto names = ctx.Names();
      if (!names.ok()) return ctx.Fail(names.error());
      std::string n = o->name;
      if (n.empty()) {
        auto self = (*names)->keystore().Self();
        if (!self.ok()) return ctx.Fail(self.error());
        n = IpnsName::FromPublicKey(self->Public()).ToString();
      }
      // A key name of ours stands for its id (as /ipns/<keyname> in the mount).
      if (!ParseIpnsTarget(n.substr(0, n.find('/'))).ok())
        if (auto key = (*names)->keystore().Get(n.substr(0, n.find('/'))); key.ok())
          n = IpnsName::FromPublicKey(key->Public()).ToString() + (n.find('/') == std::string::npos ? "" : n.substr(n.find('/')));
      ResolveOptions ro;
      ro.recursive = o->recursive;
      ro.nocache = o->nocache;
      auto r = (*names)->Resolve(n, ro);
      if (!r.ok()) return ctx.Fail(r.error());
      if (ctx.global.json) {
        std::cout << nlohmann::json{{"Path", r->path}}.dump() << "\n";
      } else {
        std::cout << r->path << "\n";
      }
      if (r->expired) std::cerr << "Warning: the record expired at " << r->validity << "; served because ipns.serve_expired is set\n";
      else if (r->stale) std::cerr << "Note: served from the cache past its TTL (" << r->source << ")\n";
    });
  }

  {
    struct Opts {
      std::string file = "-", verify;
    };
    auto o = std::make_shared<Opts>();
    auto* ins = name->add_subcommand("inspect", "Print the fields of an IPNS record (and verify it against a name).");
    ins->add_option("record", o->file, "Record file (default: stdin)");
    ins->add_option("--verify", o->verify, "Name to verify the record against");
    ins->callback([&ctx, o] {
      auto raw = ReadRecordFile(o->file);
      if (!raw.ok()) return ctx.Fail(raw.error());
      std::optional<IpnsName> n;
      if (!o->verify.empty()) {
        auto p = IpnsName::Parse(o->verify);
        if (!p.ok()) return ctx.Fail(p.error());
        n = *p;
      }
      auto j = InspectIpnsRecord(*raw, n, NowUnixNanos());
      if (!j.ok()) return ctx.Fail(j.error());
      if (ctx.global.json) {
        std::cout << j->dump() << "\n";
        return;
      }
      const auto& e = (*j)["Entry"];
      std::cout << "Value:         " << e.value("Value", "") << "\n"
                << "Validity Type: " << (e.value("ValidityType", 0) == 0 ? "EOL" : "unknown") << "\n"
                << "Validity:      " << e.value("Validity", "") << "\n"
                << "Sequence:      " << e.value("Sequence", uint64_t{0}) << "\n"
                << "TTL:           " << Duration(e.value("TTL", uint64_t{0})) << "\n"
                << "PB Size:       " << j->value("PbSize", 0) << "\n"
                << "Signature Type: " << j->value("SignatureType", "") << "\n";
      if (j->contains("Validation")) {
        const auto& v = (*j)["Validation"];
        std::cout << "\nValidation results:\n"
                  << "\tValid:     " << (v.value("Valid", false) ? "true" : "false") << "\n"
                  << "\tReason:    " << v.value("Reason", "") << "\n"
                  << "\tName:      " << v.value("Name", "") << "\n";
        if (!v.value("Valid", false)) ctx.exit_code = 1;
      }
    });
  }

  {
    auto n = std::make_shared<std::string>();
    auto* get = name->add_subcommand("get", "Write the signed record of NAME to stdout (resolving it if needed).");
    get->add_option("name", *n, "IPNS name")->required();
    get->callback([&ctx, n] {
      auto names = ctx.Names();
      if (!names.ok()) return ctx.Fail(names.error());
      std::string text = *n;
      if (text.rfind("/ipns/", 0) == 0) text = text.substr(6);
      auto id = IpnsName::Parse(text);
      if (!id.ok()) return ctx.Fail(id.error());
      auto hit = (*names)->ResolveRecord(*id);
      if (!hit.ok()) return ctx.Fail(hit.error());
      std::cout.write(reinterpret_cast<const char*>(hit->record.raw.data()), hit->record.raw.size());
      std::cout.flush();
    });
  }

  {
    struct Opts {
      std::string name, file = "-";
      bool force = false, allow_offline = false;
    };
    auto o = std::make_shared<Opts>();
    auto* put = name->add_subcommand("put", "Store a signed record for NAME (verified; not older than the one held).");
    put->add_option("name", o->name, "IPNS name")->required();
    put->add_option("record", o->file, "Record file (default: stdin)");
    put->add_flag("-f,--force", o->force, "Store it even if its sequence is not higher than the stored one");
    put->add_flag("--allow-offline", o->allow_offline, "Accepted for Kubo compatibility: records are always stored locally");
    put->callback([&ctx, o] {
      auto names = ctx.Names();
      if (!names.ok()) return ctx.Fail(names.error());
      std::string text = o->name;
      if (text.rfind("/ipns/", 0) == 0) text = text.substr(6);
      auto id = IpnsName::Parse(text);
      if (!id.ok()) return ctx.Fail(id.error());
      auto raw = ReadRecordFile(o->file);
      if (!raw.ok()) return ctx.Fail(raw.error());
      auto rec = (*names)->PutRecord(*id, *raw, "put", o->force);
      if (!rec.ok()) return ctx.Fail(rec.error());
      if (ctx.global.json) std::cout << nlohmann::json{{"Name", id->ToString()}, {"Value", rec->value}}.dump() << "\n";
      else std::cout << "Stored record for " << id->ToString() << ": " << rec->value << "\n";
    });
  }

  {
    auto all = std::make_shared<bool>(false);
    auto* rep = name->add_subcommand("republish", "Re-sign our own records before they expire (for cron or a systemd timer).");
    rep->footer("As Kubo's republisher: same sequence and value, a fresh EOL (ipns.record_lifetime). Records\n"
                "older than ipns.republish_period are re-signed, or all with --all.");
    rep->add_flag("--all", *all, "Re-sign every record of our keys");
    rep->callback([&ctx, all] {
      auto names = ctx.Names();
      if (!names.ok()) return ctx.Fail(names.error());
      const auto& s = (*names)->settings();
      UnixNanos within = *all ? INT64_MAX / 2 : (s.record_lifetime_ms - s.republish_period_ms) * 1000000;
      auto n = (*names)->Republish(within);
      if (!n.ok()) return ctx.Fail(n.error());
      if (ctx.global.json) std::cout << nlohmann::json{{"Republished", *n}}.dump() << "\n";
      else std::cout << "Republished " << *n << " record" << (*n == 1 ? "" : "s") << "\n";
    });
  }
}

}  // namespace ipfskit::cli
