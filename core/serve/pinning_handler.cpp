#include "core/serve/pinning_handler.h"

#include "core/ipns/record.h"  // ParseRfc3339, FormatRfc3339Nano

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <strings.h>

#include <set>

namespace ipfskit {

namespace {

std::string Sha256(std::string_view s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(s.data(), s.size(), md, &n, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(md), n);
}

ServerResponse Json(int status, const nlohmann::json& j) {
  ServerResponse r;
  r.status = status;
  r.body = j.dump();
  r.With("Content-Type", "application/json");
  return r;
}

ServerResponse Failure(int status, const std::string& reason, const std::string& details) {
  nlohmann::json e = {{"reason", reason}};
  if (!details.empty()) e["details"] = details;
  auto r = Json(status, {{"error", e}});
  if (status == 401) r.With("WWW-Authenticate", "Bearer");
  return r;
}

ServerResponse FromError(const Error& e) {
  switch (e.code) {
    case Errc::kInvalidArgument: return Failure(400, "BAD_REQUEST", e.message);
    case Errc::kNotFound: return Failure(404, "NOT_FOUND", e.message);
    case Errc::kUnavailable: return Failure(429, "TOO_MANY_REQUESTS", e.message);
    default: return Failure(500, "INTERNAL_SERVER_ERROR", e.message);
  }
}

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (;;) {
    size_t c = s.find(',', pos);
    out.push_back(s.substr(pos, c == std::string::npos ? std::string::npos : c - pos));
    if (c == std::string::npos) break;
    pos = c + 1;
  }
  return out;
}

// A JSON object of strings, as PinMeta; `what` names it in the error.
Result<std::map<std::string, std::string>> StringMap(const nlohmann::json& j, const char* what) {
  if (!j.is_object()) return MakeError(Errc::kInvalidArgument, std::string(what) + " must be a JSON object");
  if (j.size() > 1000) return MakeError(Errc::kInvalidArgument, std::string(what) + " has more than 1000 keys");
  std::map<std::string, std::string> m;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_string())
      return MakeError(Errc::kInvalidArgument, std::string(what) + "." + it.key() + " must be a string");
    m[it.key()] = it.value().get<std::string>();
  }
  return m;
}

}  // namespace

nlohmann::json PinStatusJson(const PinRequest& r, const std::vector<std::string>& delegates) {
  nlohmann::json pin = {{"cid", r.cid}};
  if (!r.name.empty()) pin["name"] = r.name;
  pin["origins"] = r.origins;
  pin["meta"] = r.meta;
  return {{"requestid", r.requestid}, {"status", PinStateName(r.status)}, {"created", FormatRfc3339Nano(r.created_ns)},
          {"pin", pin},               {"delegates", delegates},           {"info", r.info}};
}

Result<PinningApiOptions> PinningApiOptionsFromConfig(const Config& config, PinningOptions* so) {
  PinningApiOptions o;
  auto serve = config.raw.find("serve");
  if (serve == config.raw.end() || !serve->is_object()) return o;
  auto p = serve->find("pinning");
  if (p == serve->end()) return o;
  if (!p->is_object()) return MakeError(Errc::kInvalidArgument, "serve.pinning must be an object");
  if (auto t = p->find("tokens"); t != p->end()) {
    if (!t->is_array()) return MakeError(Errc::kInvalidArgument, "serve.pinning.tokens must be an array of strings");
    for (const auto& x : *t) {
      if (!x.is_string() || x.get<std::string>().empty())
        return MakeError(Errc::kInvalidArgument, "serve.pinning.tokens must hold non-empty strings");
      o.tokens.push_back(x.get<std::string>());
    }
  }
  auto count = [&](const char* key, size_t* out, size_t lo, size_t hi) -> Status {
    auto v = p->find(key);
    if (v == p->end()) return Status::Ok();
    if (!v->is_number_integer() || v->get<int64_t>() < int64_t(lo) || v->get<int64_t>() > int64_t(hi))
      return MakeError(Errc::kInvalidArgument, std::string("serve.pinning.") + key + " must be an integer in " +
                                                   std::to_string(lo) + ".." + std::to_string(hi));
    if (out) *out = v->get<size_t>();
    return Status::Ok();
  };
  IPFSKIT_TRY_STATUS(count("workers", so ? &so->workers : nullptr, 1, 64));
  IPFSKIT_TRY_STATUS(count("max_active", so ? &so->max_active : nullptr, 1, 1000000));
  return o;
}

PinningHandler::PinningHandler(PinningService& service, PinningApiOptions options)
    : service_(service), options_(std::move(options)) {
  for (const auto& t : options_.tokens) token_digests_.push_back(Sha256(t));
  if (options_.delegates.empty()) options_.delegates.push_back("/ip4/127.0.0.1/tcp/8080/http");
}

bool PinningHandler::Authorized(const ServerRequest& req) const {
  const std::string& h = req.Header("authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (h.size() <= kBearer.size() || strncasecmp(h.c_str(), "bearer ", kBearer.size()) != 0) return false;
  std::string digest = Sha256(std::string_view(h).substr(kBearer.size()));
  bool ok = false;
  for (const auto& d : token_digests_) ok |= CRYPTO_memcmp(d.data(), digest.data(), d.size()) == 0;
  return ok;
}

ServerResponse PinningHandler::Handle(const ServerRequest& req) {
  if (!Authorized(req))
    return Failure(401, "UNAUTHORIZED",
                   token_digests_.empty() ? "no access tokens are configured (serve.pinning.tokens)"
                                          : "missing or invalid access token (Authorization: Bearer <token>)");
  std::string_view rest = req.path;
  if (rest.substr(0, 5) != "/pins") return Failure(404, "NOT_FOUND", "no such endpoint: " + req.path);
  rest.remove_prefix(5);
  bool get = req.method == "GET" || req.method == "HEAD";
  if (rest.empty() || rest == "/") {
    if (get) return List(req);
    if (req.method == "POST") return Create(req, nullptr);
    return Failure(405, "METHOD_NOT_ALLOWED", req.method + " /pins").With("Allow", "GET, HEAD, POST");
  }
  rest.remove_prefix(1);
  std::string id(rest);
  if (id.empty() || id.find('/') != std::string::npos)
    return Failure(404, "NOT_FOUND", "no such endpoint: " + req.path);
  if (get) {
    auto r = service_.Get(id);
    if (!r) return Failure(404, "NOT_FOUND", "no pin request " + id);
    return Json(200, PinStatusJson(*r, options_.delegates));
  }
  if (req.method == "POST") return Create(req, &id);
  if (req.method == "DELETE") {
    Status st = service_.Remove(id);
    if (!st.ok()) return FromError(st.error());
    ServerResponse r;
    r.status = 202;
    return r;
  }
  return Failure(405, "METHOD_NOT_ALLOWED", req.method + " /pins/{requestid}").With("Allow", "GET, HEAD, POST, DELETE");
}

ServerResponse PinningHandler::List(const ServerRequest& req) {
  PinQuery q;
  q.statuses = {PinState::kPinned};
  if (auto v = req.Query("cid")) {
    auto list = SplitComma(*v);
    if (list.size() > 10) return Failure(400, "BAD_REQUEST", "cid: at most 10 CIDs");
    for (const auto& c : list) {
      auto cid = Cid::Parse(c);
      if (!cid.ok()) return Failure(400, "BAD_REQUEST", "cid: invalid CID \"" + c + "\"");
      q.cids.push_back(*cid);
    }
  }
  if (auto v = req.Query("name")) {
    if (v->size() > 255) return Failure(400, "BAD_REQUEST", "name: longer than 255 characters");
    q.name = *v;
  }
  if (auto v = req.Query("match")) {
    if (*v == "exact") q.match = PinQuery::Match::kExact;
    else if (*v == "iexact") q.match = PinQuery::Match::kIExact;
    else if (*v == "partial") q.match = PinQuery::Match::kPartial;
    else if (*v == "ipartial") q.match = PinQuery::Match::kIPartial;
    else return Failure(400, "BAD_REQUEST", "match: must be exact, iexact, partial or ipartial");
  }
  if (auto v = req.Query("status")) {
    q.statuses.clear();
    for (const auto& s : SplitComma(*v)) {
      auto st = ParsePinState(s);
      if (!st) return Failure(400, "BAD_REQUEST", "status: \"" + s + "\" is not queued, pinning, pinned or failed");
      q.statuses.push_back(*st);
    }
  }
  for (const char* key : {"before", "after"}) {
    if (auto v = req.Query(key)) {
      auto t = ParseRfc3339(*v);
      if (!t.ok()) return Failure(400, "BAD_REQUEST", std::string(key) + ": not an RFC 3339 date-time: \"" + *v + "\"");
      (std::string_view(key) == "before" ? q.before_ns : q.after_ns) = *t;
    }
  }
  if (auto v = req.Query("limit")) {
    char* end = nullptr;
    long n = std::strtol(v->c_str(), &end, 10);
    if (v->empty() || *end != '\0' || n < 1 || n > 1000)
      return Failure(400, "BAD_REQUEST", "limit: must be an integer in 1..1000");
    q.limit = static_cast<size_t>(n);
  }
  if (auto v = req.Query("meta")) {
    auto j = nlohmann::json::parse(*v, nullptr, false);
    auto m = StringMap(j, "meta");
    if (!m.ok()) return Failure(400, "BAD_REQUEST", m.error().message);
    q.meta = std::move(*m);
  }
  PinList list = service_.List(q);
  nlohmann::json results = nlohmann::json::array();
  for (const auto& r : list.results) results.push_back(PinStatusJson(r, options_.delegates));
  return Json(200, {{"count", list.count}, {"results", results}});
}

ServerResponse PinningHandler::Create(const ServerRequest& req, const std::string* replace) {
  auto j = nlohmann::json::parse(req.body, nullptr, false);
  if (j.is_discarded()) return Failure(400, "BAD_REQUEST", "the body is not valid JSON");
  if (!j.is_object()) return Failure(400, "BAD_REQUEST", "the body must be a Pin object");
  auto cid = j.find("cid");
  if (cid == j.end() || !cid->is_string()) return Failure(400, "BAD_REQUEST", "cid: required, a string");
  if (!Cid::Parse(cid->get<std::string>()).ok())
    return Failure(400, "BAD_REQUEST", "cid: invalid CID \"" + cid->get<std::string>() + "\"");
  std::string name;
  if (auto n = j.find("name"); n != j.end() && !n->is_null()) {
    if (!n->is_string()) return Failure(400, "BAD_REQUEST", "name: must be a string");
    name = n->get<std::string>();
    if (name.size() > 255) return Failure(400, "BAD_REQUEST", "name: longer than 255 characters");
  }
  std::vector<std::string> origins;
  if (auto o = j.find("origins"); o != j.end() && !o->is_null()) {
    if (!o->is_array() || o->size() > 20) return Failure(400, "BAD_REQUEST", "origins: an array of at most 20 multiaddrs");
    std::set<std::string> unique;
    for (const auto& x : *o) {
      if (!x.is_string() || x.get<std::string>().empty() || x.get<std::string>()[0] != '/')
        return Failure(400, "BAD_REQUEST", "origins: each must be a multiaddr string");
      if (!unique.insert(x.get<std::string>()).second)
        return Failure(400, "BAD_REQUEST", "origins: duplicate " + x.get<std::string>());
      origins.push_back(x.get<std::string>());
    }
  }
  std::map<std::string, std::string> meta;
  if (auto m = j.find("meta"); m != j.end() && !m->is_null()) {
    auto mm = StringMap(*m, "meta");
    if (!mm.ok()) return Failure(400, "BAD_REQUEST", mm.error().message);
    meta = std::move(*mm);
  }
  auto r = replace ? service_.Replace(*replace, cid->get<std::string>(), std::move(name), std::move(origins),
                                      std::move(meta))
                   : service_.Add(cid->get<std::string>(), std::move(name), std::move(origins), std::move(meta));
  if (!r.ok()) return FromError(r.error());
  return Json(202, PinStatusJson(*r, options_.delegates));
}

void AddPinningRoutes(PrefixRouter& router, PinningHandler& handler) {
  router.Add("/pins", [&handler](const ServerRequest& r) { return handler.Handle(r); });
}

}  // namespace ipfskit
