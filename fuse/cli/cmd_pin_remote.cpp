// pin remote: a Pinning Services API client, as Kubo's `ipfs pin remote`:
//   pin remote service add NAME URL TOKEN | service ls [--stat] | service rm NAME
//   pin remote add --service NAME [--name N] [--background] PATH
//   pin remote ls  --service NAME [--name N] [--cid C,...] [--status S,...]
//   pin remote rm  --service NAME [--name N] [--cid C,...] [--status S,...] [--force]
// Services live in the repo's config.json as Kubo keeps them:
//   "Pinning": {"RemoteServices": {"NAME": {"API": {"Endpoint": URL, "Key": TOKEN}}}}
// (the file is written 0600: it holds the tokens; `service ls` never prints a token).
// Every HTTP request has a 30 s timeout; `add` waits for `pinned` at most --timeout (default
// 10 minutes).
#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>

#include "core/source/http_client.h"
#include "fuse/cli/cli.h"

namespace ipfskit::cli {

namespace {

using nlohmann::json;

std::string ConfigPath(const Context& ctx) { return ctx.RepoPath() + "/config.json"; }

Result<json> ReadRepoConfig(const Context& ctx) {
  std::ifstream in(ConfigPath(ctx));
  if (!in) return json::object();
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return MakeError(Errc::kInvalidArgument, ConfigPath(ctx) + ": not a JSON object");
  return j;
}

// Replaces config.json atomically (a temporary file renamed over it), mode 0600.
Status WriteRepoConfig(const Context& ctx, const json& j) {
  std::string path = ConfigPath(ctx), tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return MakeError(Errc::kIo, "cannot write " + tmp);
  std::string text = j.dump(2) + "\n";
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ok = (::close(fd) == 0) && ok;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return MakeError(Errc::kIo, "cannot write " + path);
  }
  return Status::Ok();
}

json& Services(json& cfg) {
  if (!cfg["Pinning"].is_object()) cfg["Pinning"] = json::object();
  if (!cfg["Pinning"]["RemoteServices"].is_object()) cfg["Pinning"]["RemoteServices"] = json::object();
  return cfg["Pinning"]["RemoteServices"];
}

struct Service {
  std::string name, endpoint, key;
};

Result<Service> FindService(const Context& ctx, const std::string& name) {
  if (name.empty()) return MakeError(Errc::kInvalidArgument, "missing remote pinning service name (--service)");
  IPFSKIT_ASSIGN_OR_RETURN(json cfg, ReadRepoConfig(ctx));
  json& s = Services(cfg);
  if (!s.contains(name)) return MakeError(Errc::kNotFound, "service not known: " + name);
  const json& api = s[name]["API"];
  if (!api.is_object() || !api["Endpoint"].is_string() || !api["Key"].is_string())
    return MakeError(Errc::kInvalidArgument, "Pinning.RemoteServices." + name + ".API is malformed");
  return Service{name, api["Endpoint"].get<std::string>(), api["Key"].get<std::string>()};
}

// Kubo's normalization: no trailing "/" and no trailing "/pins".
Result<std::string> NormalizeEndpoint(std::string url) {
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
    return MakeError(Errc::kInvalidArgument, "service endpoint must be an http:// or https:// URL: " + url);
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (url.size() >= 5 && url.compare(url.size() - 5, 5, "/pins") == 0) url.resize(url.size() - 5);
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

// Percent-encodes a query or path part (libcurl's, RFC 3986 unreserved characters kept).
std::string Escape(const std::string& s) {
  char* e = curl_easy_escape(nullptr, s.data(), static_cast<int>(s.size()));
  if (!e) return s;
  std::string out(e);
  curl_free(e);
  return out;
}

// One API client per command.
class PinningClient {
 public:
  explicit PinningClient(Service s) : s_(std::move(s)) {}

  // A 2xx JSON answer (null for an empty body); anything else is an error naming the reason.
  Result<json> Call(const std::string& method, const std::string& path_query, const json* body = nullptr) {
    HttpRequest req;
    req.method = method;
    req.url = s_.endpoint + path_query;
    req.headers = {"Authorization: Bearer " + s_.key, "Accept: application/json"};
    if (body) {
      std::string text = body->dump();
      req.body.assign(text.begin(), text.end());
      req.headers.push_back("Content-Type: application/json");
    }
    req.timeout = std::chrono::seconds(30);
    req.connect_timeout = std::chrono::seconds(5);
    auto resp = http_.Fetch(std::move(req));
    if (!resp.ok())
      return MakeError(resp.error().code, "remote pinning service " + s_.name + " (" + s_.endpoint + "): " +
                                              resp.error().message);
    std::string text(resp->body.begin(), resp->body.end());
    json j = text.empty() ? json() : json::parse(text, nullptr, false);
    if (resp->status < 200 || resp->status >= 300) {
      std::string why = "HTTP " + std::to_string(resp->status);
      if (j.is_object() && j["error"].is_object()) {
        if (j["error"]["reason"].is_string()) why += " " + j["error"]["reason"].get<std::string>();
        if (j["error"]["details"].is_string()) why += ": " + j["error"]["details"].get<std::string>();
      }
      return MakeError(resp->status == 404 ? Errc::kNotFound : Errc::kHttp,
                       "remote pinning service " + s_.name + " answered " + why);
    }
    if (j.is_discarded()) return MakeError(Errc::kMalformed, "remote pinning service " + s_.name + ": not JSON");
    return j;
  }

  // Every match of the filters, following the pages (newest first) through `before`.
  Result<std::vector<json>> ListAll(const std::string& filters) {
    std::vector<json> all;
    std::string before;
    for (int page = 0; page < 1000; ++page) {
      std::string q = "/pins?limit=1000" + filters + (before.empty() ? "" : "&before=" + Escape(before));
      IPFSKIT_ASSIGN_OR_RETURN(json r, Call("GET", q));
      if (!r.is_object() || !r["results"].is_array() || !r["count"].is_number())
        return MakeError(Errc::kMalformed, "remote pinning service " + s_.name + ": not a PinResults object");
      for (const auto& x : r["results"]) all.push_back(x);
      if (r["results"].size() < 1000 || all.size() >= r["count"].get<size_t>()) break;
      const json& last = r["results"].back();
      if (!last["created"].is_string()) break;
      before = last["created"].get<std::string>();
    }
    return all;
  }

 private:
  Service s_;
  HttpClient http_;
};

struct Filters {
  std::string service, name, cids, statuses = "pinned";
  bool force = false;
};

Result<std::string> FilterQuery(const Filters& f) {
  std::string q;
  if (!f.name.empty()) q += "&name=" + Escape(f.name);
  if (!f.cids.empty()) {
    std::stringstream ss(f.cids);
    std::string c;
    while (std::getline(ss, c, ','))
      if (!Cid::Parse(c).ok()) return MakeError(Errc::kInvalidArgument, "invalid CID in --cid: " + c);
    q += "&cid=" + Escape(f.cids);
  }
  if (!f.statuses.empty()) {
    std::stringstream ss(f.statuses);
    std::string s;
    while (std::getline(ss, s, ','))
      if (s != "queued" && s != "pinning" && s != "pinned" && s != "failed")
        return MakeError(Errc::kInvalidArgument, "status " + s + " is not valid (queued, pinning, pinned, failed)");
    q += "&status=" + Escape(f.statuses);
  }
  return q;
}

std::string Str(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

void PrintPin(Context& ctx, const json& ps) {
  std::string cid = Str(ps["pin"], "cid"), name = Str(ps["pin"], "name"), status = Str(ps, "status");
  if (ctx.global.json) std::cout << json{{"Status", status}, {"Cid", cid}, {"Name", name}}.dump() << "\n";
  else std::cout << "CID:\t" << cid << "\nName:\t" << name << "\nStatus:\t" << status << "\n";
}

void AddServiceCommands(CLI::App* remote, Context& ctx) {
  auto* service = remote->add_subcommand("service", "Configure remote pinning services.");
  service->require_subcommand(1);
  {
    auto args = std::make_shared<std::vector<std::string>>();
    auto* add = service->add_subcommand("add", "Add a remote pinning service: NAME URL TOKEN.");
    add->add_option("name-url-token", *args, "NAME URL TOKEN")->required()->expected(3);
    add->callback([&ctx, args] {
      const std::string& name = (*args)[0];
      auto url = NormalizeEndpoint((*args)[1]);
      if (!url.ok()) return ctx.Fail(url.error());
      if (name.empty() || (*args)[2].empty()) return ctx.Fail("service name and token must not be empty");
      if (!ctx.OpenRepo().ok()) return ctx.Fail(ctx.OpenRepo().error());
      auto cfg = ReadRepoConfig(ctx);
      if (!cfg.ok()) return ctx.Fail(cfg.error());
      json& s = Services(*cfg);
      if (s.contains(name)) return ctx.Fail("service already present: " + name);
      s[name] = {{"API", {{"Endpoint", *url}, {"Key", (*args)[2]}}}, {"Policies", json::object()}};
      if (Status st = WriteRepoConfig(ctx, *cfg); !st.ok()) return ctx.Fail(st.error());
    });
  }
  {
    auto stat = std::make_shared<bool>(false);
    auto* ls = service->add_subcommand("ls", "List remote pinning services (NAME URL [queued/pinning/pinned/failed]).");
    ls->add_flag("--stat", *stat, "Ask each service how many pins it holds in each state");
    ls->callback([&ctx, stat] {
      if (!ctx.OpenRepo().ok()) return ctx.Fail(ctx.OpenRepo().error());
      auto cfg = ReadRepoConfig(ctx);
      if (!cfg.ok()) return ctx.Fail(cfg.error());
      json list = json::array();
      for (const auto& [name, v] : Services(*cfg).items()) {
        json e = {{"Service", name}, {"ApiEndpoint", Str(v["API"], "Endpoint")}};
        if (*stat) {
          auto svc = FindService(ctx, name);
          json st = {{"Status", "invalid"}};
          if (svc.ok()) {
            PinningClient client(*svc);
            json counts = json::object();
            bool valid = true;
            for (const char* s : {"queued", "pinning", "pinned", "failed"}) {
              auto r = client.Call("GET", std::string("/pins?limit=1&status=") + s);
              if (!r.ok() || !r->is_object() || !(*r)["count"].is_number()) {
                valid = false;
                if (!r.ok() && r.error().code != Errc::kHttp && r.error().code != Errc::kNotFound)
                  st["Status"] = "unreachable";
                break;
              }
              std::string k = s;
              k[0] = static_cast<char>(std::toupper(k[0]));
              counts[k] = (*r)["count"];
            }
            if (valid) st = {{"Status", "valid"}, {"PinCount", counts}};
          }
          e["Stat"] = st;
        }
        list.push_back(e);
      }
      if (ctx.global.json) {
        std::cout << json{{"RemoteServices", list}}.dump() << "\n";
        return;
      }
      for (const auto& e : list) {
        std::cout << e["Service"].get<std::string>() << "\t" << e["ApiEndpoint"].get<std::string>();
        if (e.contains("Stat")) {
          const json& st = e["Stat"];
          if (st.contains("PinCount")) {
            const json& pc = st["PinCount"];
            std::cout << "\t" << pc["Queued"] << "/" << pc["Pinning"] << "/" << pc["Pinned"] << "/" << pc["Failed"];
          } else {
            std::cout << "\t" << st["Status"].get<std::string>();
          }
        }
        std::cout << "\n";
      }
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto* rm = service->add_subcommand("rm", "Remove a remote pinning service.");
    rm->add_option("name", *name)->required();
    rm->callback([&ctx, name] {
      if (!ctx.OpenRepo().ok()) return ctx.Fail(ctx.OpenRepo().error());
      auto cfg = ReadRepoConfig(ctx);
      if (!cfg.ok()) return ctx.Fail(cfg.error());
      json& s = Services(*cfg);
      if (!s.contains(*name)) return ctx.Fail("service not known: " + *name);
      s.erase(*name);
      if (Status st = WriteRepoConfig(ctx, *cfg); !st.ok()) return ctx.Fail(st.error());
    });
  }
}

// Every pin at f.service matching the filters (all pages), for ls and rm; *client is left
// connected to the service.
Result<std::vector<json>> MatchingPins(Context& ctx, const Filters& f, std::optional<PinningClient>* client) {
  if (auto repo = ctx.OpenRepo(); !repo.ok()) return repo.error();
  IPFSKIT_ASSIGN_OR_RETURN(Service svc, FindService(ctx, f.service));
  IPFSKIT_ASSIGN_OR_RETURN(std::string q, FilterQuery(f));
  client->emplace(svc);
  return (*client)->ListAll(q);
}

void AddFilterOptions(CLI::App* cmd, Filters& f, bool with_force) {
  cmd->add_option("--service", f.service, "Name of the remote pinning service")->required();
  cmd->add_option("--name", f.name, "Only pins with this name (exact match)");
  cmd->add_option("--cid", f.cids, "Only pins of these CIDs (comma separated, at most 10)");
  cmd->add_option("--status", f.statuses, "Only pins in these states: queued,pinning,pinned,failed (default pinned)");
  if (with_force) cmd->add_flag("--force", f.force, "Remove every match, not just one");
}

}  // namespace

void RegisterPinRemoteCommands(CLI::App* pin, Context& ctx) {
  auto* remote = pin->add_subcommand("remote", "Pin to remote pinning services (as `ipfs pin remote`).");
  remote->require_subcommand(1);
  remote->footer("Services speak the IPFS Pinning Services API (ipfskit serve --api is one).\n"
                 "They are kept in the repo config as Pinning.RemoteServices.NAME.API.{Endpoint,Key}.");
  AddServiceCommands(remote, ctx);
  {
    struct AddFlags {
      std::string service, name, path;
      bool background = false;
    };
    auto f = std::make_shared<AddFlags>();
    auto* add = remote->add_subcommand("add", "Ask a remote service to pin a CID or /ipfs/ path.");
    add->add_option("ipfs-path", f->path)->required();
    add->add_option("--service", f->service, "Name of the remote pinning service")->required();
    add->add_option("--name", f->name, "A name for the pin");
    add->add_flag("--background", f->background, "Return once the request is queued; do not wait for pinned");
    add->footer("Without --background, waits until the service reports pinned (progress on stderr),\n"
                "at most --timeout (default 10m); a failed pin is an error.");
    add->callback([&ctx, f] {
      if (!ctx.OpenRepo().ok()) return ctx.Fail(ctx.OpenRepo().error());
      auto svc = FindService(ctx, f->service);
      if (!svc.ok()) return ctx.Fail(svc.error());
      auto cid = ResolveIpfsPath(ctx, f->path);
      if (!cid.ok()) return ctx.Fail(cid.error());
      if (f->name.size() > 255) return ctx.Fail("--name is longer than 255 characters");
      PinningClient client(*svc);
      json pin = {{"cid", cid->ToString()}};
      if (!f->name.empty()) pin["name"] = f->name;
      auto r = client.Call("POST", "/pins", &pin);
      if (!r.ok()) return ctx.Fail(r.error());
      json ps = *r;
      std::string id = Str(ps, "requestid");
      if (id.empty()) return ctx.Fail("remote pinning service " + f->service + ": no requestid in its answer");
      if (!f->background) {
        auto limit = std::chrono::milliseconds(ctx.global.timeout_ms > 0 ? ctx.global.timeout_ms : 600000);
        auto deadline = std::chrono::steady_clock::now() + limit;
        std::string last_line;
        while (Str(ps, "status") != "pinned") {
          if (Str(ps, "status") == "failed") {
            std::string why = ps["info"].is_object() ? Str(ps["info"], "error") : "";
            return ctx.Fail("remote service failed to pin requestid=" + id + (why.empty() ? "" : ": " + why));
          }
          std::string line = Str(ps, "status");
          if (ps["info"].is_object() && ps["info"].contains("blocks_fetched"))
            line += ": " + Str(ps["info"], "blocks_fetched") + " blocks, " + Str(ps["info"], "bytes_fetched") + " bytes";
          if (line != last_line && !ctx.global.json) std::cerr << line << std::endl;
          last_line = line;
          if (std::chrono::steady_clock::now() >= deadline)
            return ctx.Fail("timed out waiting for requestid=" + id + " to be pinned (status " + Str(ps, "status") +
                            "); it stays queued at the service");
          std::this_thread::sleep_for(std::chrono::milliseconds(250));
          auto g = client.Call("GET", "/pins/" + Escape(id));
          if (!g.ok()) return ctx.Fail(g.error());
          ps = *g;
        }
      }
      PrintPin(ctx, ps);
    });
  }
  {
    auto f = std::make_shared<Filters>();
    auto* ls = remote->add_subcommand("ls", "List pins at a remote service: CID STATUS NAME.");
    AddFilterOptions(ls, *f, false);
    ls->callback([&ctx, f] {
      std::optional<PinningClient> client;
      auto all = MatchingPins(ctx, *f, &client);
      if (!all.ok()) return ctx.Fail(all.error());
      for (const auto& ps : *all) {
        std::string cid = Str(ps["pin"], "cid"), name = Str(ps["pin"], "name"), status = Str(ps, "status");
        if (ctx.global.json) std::cout << json{{"Status", status}, {"Cid", cid}, {"Name", name}}.dump() << "\n";
        else std::cout << cid << "\t" << status << "\t" << name << "\n";
      }
    });
  }
  {
    auto f = std::make_shared<Filters>();
    auto* rm = remote->add_subcommand("rm", "Remove pins from a remote service (more than one only with --force).");
    AddFilterOptions(rm, *f, true);
    rm->callback([&ctx, f] {
      std::optional<PinningClient> client;
      auto all = MatchingPins(ctx, *f, &client);
      if (!all.ok()) return ctx.Fail(all.error());
      if (all->size() > 1 && !f->force)
        return ctx.Fail("multiple remote pins are matching this query, add --force to confirm the bulk removal");
      for (const auto& ps : *all) {
        auto d = client->Call("DELETE", "/pins/" + Escape(Str(ps, "requestid")));
        if (!d.ok()) return ctx.Fail(d.error());
      }
    });
  }
}

}  // namespace ipfskit::cli
