#include "core/source/make_source_chain.h"

#include "core/cache/arc_block_cache.h"

namespace ipfskit {

RemoteOptions RemoteOptionsFrom(const NetConfig& n) {
  RemoteOptions o;
  o.request_timeout = std::chrono::milliseconds(n.request_timeout_ms);
  o.connect_timeout = std::chrono::milliseconds(n.connect_timeout_ms);
  o.low_speed_bytes = static_cast<long>(n.low_speed_bytes);
  o.low_speed_seconds = static_cast<long>(n.low_speed_seconds);
  o.backoff_base = std::chrono::milliseconds(n.backoff_base_ms);
  o.backoff_max = std::chrono::milliseconds(n.backoff_max_ms);
  return o;
}

ChainOptions ChainOptionsFrom(const NetConfig& n) {
  ChainOptions o;
  o.overall_timeout = std::chrono::milliseconds(n.overall_timeout_ms);
  o.max_rounds = static_cast<int>(n.max_rounds);
  o.retry_base = std::chrono::milliseconds(n.retry_base_ms);
  o.retry_max = std::chrono::milliseconds(n.retry_max_ms);
  o.max_inflight = static_cast<size_t>(n.max_inflight);
  o.prefetch_workers = static_cast<size_t>(n.prefetch_workers);
  o.prefetch_queue = static_cast<size_t>(n.prefetch_queue);
  o.hedge_after = std::chrono::milliseconds(n.hedge_after_ms);
  return o;
}

Result<std::shared_ptr<SourceChain>> MakeSourceChain(const Config& config, std::shared_ptr<Repo> repo) {
  std::shared_ptr<BlockGetter> local = repo;
  std::shared_ptr<BlockCache> cache;
  if (repo) {
    ArcCacheOptions co;
    co.max_bytes = config.cache_max_bytes;
    co.verify_on_read = config.cache_verify_on_read;
    IPFSKIT_ASSIGN_OR_RETURN(cache, ArcBlockCache::Open(repo, co));
  }
  std::vector<std::shared_ptr<RemoteSource>> remotes;
  if (!config.offline) {
    HttpClient::Options ho;
    ho.max_connections = static_cast<long>(config.net.max_connections);
    ho.max_host_connections = static_cast<long>(config.net.max_host_connections);
    auto http = std::make_shared<HttpClient>(ho);
    RemoteOptions ro = RemoteOptionsFrom(config.net);
    if (!config.kubo_api.empty() &&
        (!config.kubo_api_is_default ||
         KuboRpcSource::Probe(*http, config.kubo_api, std::chrono::milliseconds(500))))
      remotes.push_back(std::make_shared<KuboRpcSource>(config.kubo_api, http, ro));
    for (const auto& g : config.gateways) remotes.push_back(std::make_shared<GatewaySource>(g, http, ro));
  }
  return std::make_shared<SourceChain>(std::move(local), std::move(cache), std::move(remotes),
                                       ChainOptionsFrom(config.net));
}

}  // namespace ipfskit
