// serve: the trustless HTTP gateway (core/serve) over this node's repo, cache and sources.
#include <signal.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>

#include "accel/backends.h"
#include "core/infer/unixfs_model_files.h"
#include "core/serve/embeddings_handler.h"
#include "core/serve/gateway_handler.h"
#include "core/serve/http_server.h"
#include "core/serve/pinning_handler.h"
#include "core/source/make_source_chain.h"
#include "fuse/cli/cli.h"

namespace ipfskit::cli {

namespace {

struct ServeFlags {
  std::string listen = "127.0.0.1:8080";
  std::string api;  // empty: no API listener
  bool local_only = false;
  bool allow_remote = false;
};

void RunServe(Context& ctx, const ServeFlags& f) {
  auto addr = ParseListenAddress(f.listen);
  if (!addr.ok()) return ctx.Fail(addr.error());
  if (!IsLoopbackHost(addr->first) && !f.allow_remote)
    return ctx.Fail("--listen " + f.listen +
                    " is not a loopback address: anyone who can reach it could read through this node; "
                    "pass --allow-remote to serve it anyway");
  std::optional<std::pair<std::string, uint16_t>> api_addr;
  if (!f.api.empty()) {
    auto a = ParseListenAddress(f.api);
    if (!a.ok()) return ctx.Fail(a.error());
    if (!IsLoopbackHost(a->first) && !f.allow_remote)
      return ctx.Fail("--api " + f.api + " is not a loopback address; pass --allow-remote to serve it anyway");
    api_addr = *a;
  }

  // SIGINT/SIGTERM are blocked before any thread starts (the source chain's, the name system's
  // and the server's threads inherit the mask), then taken below with sigwait.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  auto repo = ctx.OpenRepo();
  if (!repo.ok()) return ctx.Fail(repo.error());
  auto cfg = ctx.LoadConfiguration();
  if (!cfg.ok()) return ctx.Fail(cfg.error());
  // --local-only: blocks from the repo and the cache only (names may still be resolved).
  if (f.local_only) cfg->offline = true;
  auto chain = MakeSourceChain(*cfg, *repo);
  if (!chain.ok()) return ctx.Fail(chain.error());
  auto names = ctx.Names();
  if (!names.ok()) return ctx.Fail(names.error());

  GatewayHandler gateway(*chain, *names);
  HttpServerOptions so;
  so.host = addr->first;
  so.port = addr->second;
  HttpServer server(so, gateway.AsHandler());
  if (Status st = server.Start(); !st.ok()) return ctx.Fail(st.error());

  // The API listener: the Pinning Services API and the embeddings API, which take POST bodies.
  PrefixRouter api;  // routes go in before the server is made: it keeps a copy
  // Pinning Services API at /pins (core/serve/pinning_handler.h); outlives api_server.
  std::unique_ptr<PinningService> pinning;
  std::unique_ptr<PinningHandler> pinning_api;
  if (api_addr) {
    PinningOptions po;
    auto pa = PinningApiOptionsFromConfig(*cfg, &po);
    if (!pa.ok()) return ctx.Fail(pa.error());
    // No libp2p here: the one delegate is this node's trustless gateway, as an HTTP multiaddr.
    bool v6 = server.address().front() == '[';
    pa->delegates = {std::string(v6 ? "/ip6/" : "/ip4/") + (so.host == "localhost" ? "127.0.0.1" : so.host) +
                     "/tcp/" + std::to_string(server.port()) + "/http"};
    auto ps = PinningService::Open(*repo, *chain, po);
    if (!ps.ok()) return ctx.Fail(ps.error());
    pinning = std::move(*ps);
    pinning->Start();
    pinning_api = std::make_unique<PinningHandler>(*pinning, std::move(*pa));
    AddPinningRoutes(api, *pinning_api);
  }
  std::unique_ptr<HttpServer> api_server;
  if (api_addr) {
    // Embeddings: the engine (backend, model loader) is made on the first request, as /infer's.
    auto is = infer::InferSettingsFromConfig(cfg->raw);
    if (!is.ok()) return ctx.Fail(is.error());
    auto eo = EmbeddingsApiOptionsFromConfig(cfg->raw);
    if (!eo.ok()) return ctx.Fail(eo.error());
    auto reader = std::make_shared<UnixfsReader>(*chain);
    auto local = std::make_shared<infer::LocalEmbeddings>(
        [reader, is = *is] {
          return std::make_shared<infer::InferenceEngine>(accel::MakeDefaultBackend(),
                                                          infer::MakeUnixfsModelLoader(reader, is.aliases), is.limits);
        },
        is->limits);
    AddEmbeddingsRoutes(api, std::make_shared<EmbeddingsHandler>(local, std::move(*eo)));
    HttpServerOptions ao;
    ao.host = api_addr->first;
    ao.port = api_addr->second;
    ao.max_body = 4 << 20;
    ao.methods = {"GET", "HEAD", "POST", "DELETE"};
    api_server = std::make_unique<HttpServer>(ao, api);
    if (Status st = api_server->Start(); !st.ok()) return ctx.Fail(st.error());
  }
  if (ctx.global.json) {
    nlohmann::json j = {{"Gateway", "http://" + server.address()}, {"Address", server.address()}};
    if (api_server) j["API"] = "http://" + api_server->address();
    std::cout << j.dump() << std::endl;
  } else {
    std::cout << "Gateway server listening on http://" << server.address() << std::endl;
    if (api_server) std::cout << "API server listening on http://" << api_server->address() << std::endl;
  }
  int sig = 0;
  sigwait(&sigs, &sig);
  if (api_server) api_server->Stop();
  if (pinning) pinning->Stop();
  server.Stop();
  if (!ctx.global.json) std::cerr << "Received " << (sig == SIGINT ? "interrupt" : "terminate") << " signal, shut down.\n";
}

}  // namespace

void RegisterServeCommand(CLI::App& app, Context& ctx) {
  auto flags = std::make_shared<ServeFlags>();
  auto* serve = app.add_subcommand(
      "serve", "Serve this node's blocks as an HTTP trustless gateway (and, with --api, pinning and embeddings).");
  serve->footer(
      "GET|HEAD /ipfs/<cid>[/path]?format=raw|car (dag-scope, entity-bytes, dups) and\n"
      "/ipns/<name>?format=ipns-record, as the trustless gateway spec says. Blocks the repo and\n"
      "cache lack are fetched through the configured sources unless --offline or --local-only.\n"
      "--api adds the Pinning Services API (/pins) and the embeddings API (/v1/embeddings,\n"
      "/embed, /v1/models). Runs until SIGINT or SIGTERM.");
  serve->add_option("--listen", flags->listen, "HOST:PORT to listen on (default 127.0.0.1:8080)");
  serve->add_option("--api", flags->api, "HOST:PORT for the pinning and embeddings APIs (default: none)");
  serve->add_flag("--local-only", flags->local_only, "Serve only blocks in the repo and cache");
  serve->add_flag("--allow-remote", flags->allow_remote, "Allow a non-loopback --listen address");
  serve->callback([&ctx, flags] { RunServe(ctx, *flags); });
}

}  // namespace ipfskit::cli
