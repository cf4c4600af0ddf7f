#include "core/serve/embeddings_handler.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <future>

#include "core/util/base64.h"

namespace ipfskit {
namespace {

using nlohmann::json;

struct ApiError {
  int status = 500;
  std::string message;
  std::string type = "server_error";  // OpenAI's error type
  std::string code;                   // OpenAI's error code ("" -> null)
  std::string param;                  // the offending field ("" -> null)
  std::string tei_type = "backend";   // TEI's error_type
};

ApiError Internal(std::string message) {
  return ApiError{500, std::move(message), "server_error", "", "", "backend"};
}

ApiError BadRequest(std::string message, std::string param = "", std::string tei_type = "validation") {
  return ApiError{400, std::move(message), "invalid_request_error", "", std::move(param), std::move(tei_type)};
}

ApiError FromError(const Error& e) {
  switch (e.code) {
    case Errc::kInvalidArgument: return BadRequest(e.message, "input");
    case Errc::kNotFound:
    case Errc::kUnavailable:
      return ApiError{404, e.message, "invalid_request_error", "model_not_found", "model", "not_found"};
    case Errc::kNoSpace:
    case Errc::kCancelled: return ApiError{503, e.message, "server_error", "overloaded", "", "overloaded"};
    case Errc::kTimeout: return ApiError{504, e.message, "server_error", "timeout", "", "backend"};
    default: return ApiError{500, e.message, "server_error", "", "", "backend"};
  }
}

ServerResponse JsonResponse(int status, std::string body) {
  ServerResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers.emplace_back("Content-Type", "application/json");
  return r;
}

json NullOr(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

ServerResponse OpenAiError(const ApiError& e) {
  json j = {{"error", {{"message", e.message}, {"type", e.type}, {"param", NullOr(e.param)}, {"code", NullOr(e.code)}}}};
  auto r = JsonResponse(e.status, j.dump(-1, ' ', false, json::error_handler_t::replace));
  if (e.status == 401) r.With("WWW-Authenticate", "Bearer");
  return r;
}

ServerResponse TeiError(const ApiError& e) {
  json j = {{"error", e.message}, {"error_type", e.tei_type}};
  auto r = JsonResponse(e.status, j.dump(-1, ' ', false, json::error_handler_t::replace));
  if (e.status == 401) r.With("WWW-Authenticate", "Bearer");
  return r;
}

ServerResponse MethodNotAllowed(const char* allow, bool tei) {
  ApiError e{405, std::string("method not allowed; use ") + allow, "invalid_request_error", "", "", "validation"};
  return (tei ? TeiError(e) : OpenAiError(e)).With("Allow", allow);
}

void AppendFloat(std::string& s, float v) {
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof buf, v);  // shortest form that reads back exactly
  s.append(buf, res.ptr);
}

void AppendFloats(std::string& s, const float* v, int dim) {
  s += '[';
  for (int d = 0; d < dim; d++) {
    if (d) s += ',';
    AppendFloat(s, v[d]);
  }
  s += ']';
}

std::string Float32Base64(const float* v, int dim) {
  Bytes b(size_t(dim) * 4);
  for (int d = 0; d < dim; d++) {  // little-endian, whatever the host
    uint32_t u;
    std::memcpy(&u, &v[d], 4);
    for (int k = 0; k < 4; k++) b[4 * d + k] = static_cast<uint8_t>(u >> (8 * k));
  }
  return Base64Encode(b);
}

// "input"/"inputs": a string or a list of strings. Token-id lists are refused.
Result<std::vector<std::string>> ParseInputs(const json& j, const char* field) {
  auto bad = [&](std::string m) { return MakeError(Errc::kInvalidArgument, std::move(m)); };
  if (j.is_string()) return std::vector<std::string>{j.get<std::string>()};
  if (!j.is_array()) return bad(std::string("'") + field + "' must be a string or a list of strings");
  if (j.empty()) return bad(std::string("'") + field + "' is an empty list");
  std::vector<std::string> out;
  out.reserve(j.size());
  for (const auto& x : j) {
    if (x.is_number_integer() || x.is_array())
      return MakeError(Errc::kUnsupported, "token-id inputs are not supported; send text");
    if (!x.is_string()) return bad(std::string("'") + field + "' must be a string or a list of strings");
    out.push_back(x.get<std::string>());
  }
  return out;
}

bool ConstantTimeEqual(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char d = 0;
  for (size_t i = 0; i < a.size(); i++) d |= static_cast<unsigned char>(a[i] ^ b[i]);
  return d == 0;
}

}  // namespace

Result<EmbeddingsApiOptions> EmbeddingsApiOptionsFromConfig(const nlohmann::json& raw) {
  EmbeddingsApiOptions o;
  auto settings = infer::InferSettingsFromConfig(raw);
  if (!settings.ok()) return settings.error();
  o.aliases = settings->aliases;
  if (!raw.is_object() || !raw.contains("serve") || !raw["serve"].is_object() || !raw["serve"].contains("embeddings"))
    return o;
  const json& e = raw["serve"]["embeddings"];
  auto bad = [](const std::string& m) { return MakeError(Errc::kInvalidArgument, "serve.embeddings." + m); };
  if (!e.is_object()) return MakeError(Errc::kInvalidArgument, "serve.embeddings must be an object");
  if (e.contains("tokens")) {
    if (!e["tokens"].is_array()) return bad("tokens must be a list of strings");
    for (const auto& t : e["tokens"]) {
      if (!t.is_string() || t.get<std::string>().empty()) return bad("tokens must be a list of non-empty strings");
      o.tokens.push_back(t.get<std::string>());
    }
  }
  if (e.contains("default_model")) {
    if (!e["default_model"].is_string()) return bad("default_model must be a string");
    o.default_model = e["default_model"].get<std::string>();
  }
  if (e.contains("max_inputs")) {
    if (!e["max_inputs"].is_number_unsigned() || e["max_inputs"].get<size_t>() == 0) return bad("max_inputs must be a positive integer");
    o.max_inputs = e["max_inputs"].get<size_t>();
  }
  if (e.contains("timeout_ms")) {
    if (!e["timeout_ms"].is_number_unsigned()) return bad("timeout_ms must be a non-negative integer");
    o.timeout = std::chrono::milliseconds(e["timeout_ms"].get<int64_t>());
  }
  return o;
}

EmbeddingsHandler::EmbeddingsHandler(std::shared_ptr<infer::EmbeddingService> service, EmbeddingsApiOptions options)
    : service_(std::move(service)), options_(std::move(options)) {}

bool EmbeddingsHandler::Authorized(const ServerRequest& req) const {
  if (options_.tokens.empty()) return true;
  const std::string& h = req.Header("authorization");
  if (h.size() < 7 || strncasecmp(h.c_str(), "Bearer ", 7) != 0) return false;
  std::string token = h.substr(7);
  while (!token.empty() && token.front() == ' ') token.erase(0, 1);
  bool ok = false;
  for (const auto& t : options_.tokens) ok |= ConstantTimeEqual(token, t);
  return ok;
}

Result<infer::EmbeddingResult> EmbeddingsHandler::Run(const std::string& model, std::vector<std::string> inputs) const {
  // The promise is shared with the callback, which may run after a timed-out request returned.
  auto p = std::make_shared<std::promise<Result<infer::EmbeddingResult>>>();
  auto f = p->get_future();
  Status st = service_->Submit(model, std::move(inputs), [p](Result<infer::EmbeddingResult> r) { p->set_value(std::move(r)); });
  if (!st.ok()) return st.error();
  if (f.wait_for(options_.timeout) != std::future_status::ready) {
    timeouts_++;
    return MakeError(Errc::kTimeout, "no result within " + std::to_string(options_.timeout.count()) + " ms");
  }
  return f.get();
}

ServerResponse EmbeddingsHandler::Count(ServerResponse r) const {
  if (r.status < 300) ok_++;
  else if (r.status < 500) client_errors_++;
  else server_errors_++;
  return r;
}

ServerResponse EmbeddingsHandler::Handle(const ServerRequest& req) const {
  requests_++;
  const std::string& p = req.path;
  bool tei = p == "/embed" || p.rfind("/embed/", 0) == 0 || p.rfind("/embeddings/", 0) == 0;
  if (!Authorized(req)) {
    ApiError e{401, "a valid bearer token is required (Authorization: Bearer <token>)", "invalid_request_error",
               "invalid_api_key", "", "unauthorized"};
    return Count(tei ? TeiError(e) : OpenAiError(e));
  }
  if (p == "/v1/embeddings" || p == "/v1/embeddings/") {
    if (req.method != "POST") return Count(MethodNotAllowed("POST", false));
    return Count(OpenAiEmbeddings(req));
  }
  if (p == "/v1/models" || p == "/v1/models/") {
    if (req.method != "GET" && req.method != "HEAD") return Count(MethodNotAllowed("GET", false));
    return Count(Models());
  }
  if (p == "/embed" || p == "/embed/") {
    if (req.method != "POST") return Count(MethodNotAllowed("POST", true));
    return Count(TeiEmbed(req));
  }
  if (p == "/embeddings/stats") {
    if (req.method != "GET" && req.method != "HEAD") return Count(MethodNotAllowed("GET", true));
    return Count(JsonResponse(200, StatsJson().dump(2) + "\n"));
  }
  ApiError e{404, "no such endpoint: " + p, "invalid_request_error", "unknown_url", "", "not_found"};
  return Count(tei ? TeiError(e) : OpenAiError(e));
}

ServerResponse EmbeddingsHandler::OpenAiEmbeddings(const ServerRequest& req) const {
  json j = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return OpenAiError(BadRequest("the request body is not valid JSON"));
  if (!j.is_object()) return OpenAiError(BadRequest("the request body must be a JSON object"));
  if (!j.contains("model") || !j["model"].is_string() || j["model"].get<std::string>().empty())
    return OpenAiError(BadRequest("'model' is required (a model CID or alias)", "model"));
  std::string model = j["model"].get<std::string>();
  if (!j.contains("input")) return OpenAiError(BadRequest("'input' is required", "input"));
  auto inputs = ParseInputs(j["input"], "input");
  if (!inputs.ok()) {
    ApiError e = BadRequest(inputs.error().message, "input");
    if (inputs.error().code == Errc::kUnsupported) e.code = "not_supported";
    return OpenAiError(e);
  }
  for (size_t i = 0; i < inputs->size(); i++)
    if ((*inputs)[i].empty())
      return OpenAiError(BadRequest("input " + std::to_string(i) + " is an empty string", "input"));
  if (inputs->size() > options_.max_inputs)
    return OpenAiError(BadRequest(std::to_string(inputs->size()) + " inputs; at most " +
                                      std::to_string(options_.max_inputs) + " per request",
                                  "input"));
  bool b64 = false;
  if (j.contains("encoding_format") && !j["encoding_format"].is_null()) {
    const json& f = j["encoding_format"];
    if (f == "base64") b64 = true;
    else if (f != "float")
      return OpenAiError(BadRequest("'encoding_format' must be \"float\" or \"base64\"", "encoding_format"));
  }
  if (j.contains("dimensions") && !j["dimensions"].is_null()) {
    if (!j["dimensions"].is_number_integer())
      return OpenAiError(BadRequest("'dimensions' must be an integer", "dimensions"));
    auto info = service_->GetModel(model);
    if (!info.ok()) return OpenAiError(FromError(info.error()));
    if (j["dimensions"].get<int64_t>() != info->output_dim)
      return OpenAiError(BadRequest("this model has " + std::to_string(info->output_dim) +
                                        " dimensions; 'dimensions' must be that or absent",
                                    "dimensions"));
  }
  size_t n = inputs->size();
  inputs_ += n;
  auto r = Run(model, std::move(*inputs));
  if (!r.ok()) return OpenAiError(FromError(r.error()));
  if (r->size() != n) return OpenAiError(Internal("the engine returned a wrong number of embeddings"));

  std::string s;
  s.reserve(64 + n * (b64 ? r->dim * 4 / 3 + 96 : r->dim * 12 + 96));
  s += "{\"object\":\"list\",\"data\":[";
  uint64_t tokens = 0;
  for (size_t i = 0; i < n; i++) {
    if (i) s += ',';
    s += "{\"object\":\"embedding\",\"index\":" + std::to_string(i) + ",\"embedding\":";
    const float* v = r->embeddings.data() + i * r->dim;
    if (b64) {
      s += '"';
      s += Float32Base64(v, r->dim);
      s += '"';
    } else {
      AppendFloats(s, v, r->dim);
    }
    s += ",\"tokens\":" + std::to_string(r->token_counts[i]) + ",\"truncated\":" + (r->truncated[i] ? "true" : "false") + "}";
    tokens += r->token_counts[i];
  }
  s += "],\"model\":" + json(model).dump(-1, ' ', false, json::error_handler_t::replace);
  s += ",\"usage\":{\"prompt_tokens\":" + std::to_string(tokens) + ",\"total_tokens\":" + std::to_string(tokens) + "}}";
  return JsonResponse(200, std::move(s));
}

ServerResponse EmbeddingsHandler::Models() const {
  json data = json::array();
  for (const auto& [alias, cid] : options_.aliases)
    data.push_back({{"id", alias}, {"object", "model"}, {"created", 0}, {"owned_by", "ipfskit"}, {"cid", cid}});
  return JsonResponse(200, json{{"object", "list"}, {"data", data}}.dump());
}

ServerResponse EmbeddingsHandler::TeiEmbed(const ServerRequest& req) const {
  json j = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return TeiError(BadRequest("the request body is not valid JSON"));
  if (!j.is_object()) return TeiError(BadRequest("the request body must be a JSON object"));
  std::string model;
  if (auto q = req.Query("model")) model = *q;
  else if (j.contains("model") && j["model"].is_string()) model = j["model"].get<std::string>();
  else if (!options_.default_model.empty()) model = options_.default_model;
  else if (options_.aliases.size() == 1) model = options_.aliases.begin()->first;
  if (model.empty())
    return TeiError(BadRequest("no model: pass ?model=CID-or-alias or set serve.embeddings.default_model"));
  if (!j.contains("inputs")) return TeiError(BadRequest("'inputs' is required", "", "empty"));
  auto inputs = ParseInputs(j["inputs"], "inputs");
  if (!inputs.ok()) return TeiError(BadRequest(inputs.error().message, "", inputs.error().message.find("empty") != std::string::npos ? "empty" : "validation"));
  for (size_t i = 0; i < inputs->size(); i++)
    if ((*inputs)[i].empty()) return TeiError(BadRequest("input " + std::to_string(i) + " is empty", "", "empty"));
  if (inputs->size() > options_.max_inputs)
    return TeiError(BadRequest("batch size " + std::to_string(inputs->size()) + " > maximum allowed batch size " +
                               std::to_string(options_.max_inputs)));
  bool normalize = true, truncate = false;
  for (auto [name, out] : {std::pair{"normalize", &normalize}, std::pair{"truncate", &truncate}}) {
    if (!j.contains(name) || j[name].is_null()) continue;
    if (!j[name].is_boolean()) return TeiError(BadRequest(std::string("'") + name + "' must be true or false"));
    *out = j[name].get<bool>();
  }
  size_t n = inputs->size();
  inputs_ += n;
  auto r = Run(model, std::move(*inputs));
  if (!r.ok()) return TeiError(FromError(r.error()));
  if (r->size() != n) return TeiError(Internal("the engine returned a wrong number of embeddings"));
  if (!truncate)
    for (size_t i = 0; i < n; i++)
      if (r->truncated[i])
        return TeiError(ApiError{413, "input " + std::to_string(i) + " is longer than the model's maximum sequence length; send \"truncate\": true to cut it", "invalid_request_error", "", "inputs", "validation"});
  std::string s;
  s.reserve(2 + n * (r->dim * 12 + 4));
  s += '[';
  std::vector<float> tmp(r->dim);
  for (size_t i = 0; i < n; i++) {
    if (i) s += ',';
    const float* v = r->embeddings.data() + i * r->dim;
    if (normalize) {
      double ss = 0;
      for (int d = 0; d < r->dim; d++) ss += double(v[d]) * v[d];
      float inv = 1.0f / std::max(static_cast<float>(std::sqrt(ss)), 1e-12f);
      for (int d = 0; d < r->dim; d++) tmp[d] = v[d] * inv;
      v = tmp.data();
    }
    AppendFloats(s, v, r->dim);
  }
  s += ']';
  return JsonResponse(200, std::move(s));
}

nlohmann::json EmbeddingsHandler::StatsJson() const {
  return json{{"requests", requests_.load()},
              {"inputs", inputs_.load()},
              {"ok", ok_.load()},
              {"client_errors", client_errors_.load()},
              {"server_errors", server_errors_.load()},
              {"timeouts", timeouts_.load()},
              {"service", service_->StatsJson()}};
}

void AddEmbeddingsRoutes(PrefixRouter& router, std::shared_ptr<EmbeddingsHandler> handler) {
  ServerHandler h = [handler](const ServerRequest& req) { return handler->Handle(req); };
  for (const char* prefix : {"/v1/embeddings", "/v1/models", "/embed", "/embeddings/stats"}) router.Add(prefix, h);
}

}  // namespace ipfskit
