#include "core/source/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

namespace ipfskit {
namespace {

struct Transfer {
  HttpRequest req;
  HttpCallback done;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  Bytes body;
  bool too_big = false;
  std::optional<Error> stream_error;
  char errbuf[CURL_ERROR_SIZE] = {0};
  std::chrono::steady_clock::time_point started;

  ~Transfer() {
    if (headers) curl_slist_free_all(headers);
    if (easy) curl_easy_cleanup(easy);
  }
};

size_t WriteCb(char* ptr, size_t size, size_t nmemb, void* userdata) {
  auto* t = static_cast<Transfer*>(userdata);
  const size_t n = size * nmemb;
  ByteView chunk(reinterpret_cast<const uint8_t*>(ptr), n);
  long status = 0;
  if (t->req.on_data && curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
      status / 100 == 2) {
    Status st = t->req.on_data(chunk);
    if (!st.ok()) {
      t->stream_error = st.error();
      return 0;  // aborts with CURLE_WRITE_ERROR
    }
    return n;
  }
  if (t->req.on_data) {  // an error page instead of the stream: keep its start for the message
    const size_t keep = std::min(n, (size_t{64} << 10) - std::min(t->body.size(), size_t{64} << 10));
    t->body.insert(t->body.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(keep));
    return n;
  }
  if (t->body.size() + n > t->req.max_body) {
    t->too_big = true;
    return 0;
  }
  if (t->body.empty()) {
    // One allocation of the announced size: growing by doubling copied a 256 KiB block about
    // twice more and faulted in fresh pages for each step.
    curl_off_t len = -1;
    if (curl_easy_getinfo(t->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len) == CURLE_OK && len > 0 &&
        static_cast<uint64_t>(len) <= t->req.max_body)
      t->body.reserve(static_cast<size_t>(len));
  }
  Append(t->body, chunk);
  return n;
}

Error CurlError(CURLcode rc, const Transfer& t) {
  std::string what = t.req.method + " " + t.req.url + ": " +
                     (t.errbuf[0] ? std::string(t.errbuf) : std::string(curl_easy_strerror(rc)));
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
      return MakeError(Errc::kTimeout, what);
    case CURLE_PARTIAL_FILE:
      return MakeError(Errc::kTruncated, what);
    case CURLE_WRITE_ERROR:
      if (t.stream_error) return *t.stream_error;
      if (t.too_big)
        return MakeError(Errc::kMalformed, t.req.method + " " + t.req.url + ": body larger than " +
                                               std::to_string(t.req.max_body) + " bytes");
      return MakeError(Errc::kIo, what);
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      return MakeError(Errc::kInvalidArgument, what);
    default:
      return MakeError(Errc::kNetwork, what);
  }
}

}  // namespace

struct HttpClient::Impl {
  Options options;
  CURLM* multi = nullptr;
  std::mutex mu;
  std::deque<std::unique_ptr<Transfer>> pending;  // guarded by mu
  bool stop = false;                               // guarded by mu
  std::unordered_map<CURL*, std::unique_ptr<Transfer>> active;  // client thread only
  std::atomic<uint64_t> transfers{0}, connections{0};
  std::thread thread;

  void Loop();
  void Begin(std::unique_ptr<Transfer> t);
  void Finish(CURL* easy, CURLcode rc);
};

HttpClient::HttpClient(Options options) : impl_(std::make_unique<Impl>()) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  impl_->options = options;
  impl_->multi = curl_multi_init();
  curl_multi_setopt(impl_->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, options.max_connections);
  curl_multi_setopt(impl_->multi, CURLMOPT_MAX_HOST_CONNECTIONS, options.max_host_connections);
  curl_multi_setopt(impl_->multi, CURLMOPT_MAXCONNECTS, options.max_connections);
  curl_multi_setopt(impl_->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  impl_->thread = std::thread([this] { impl_->Loop(); });
}

HttpClient::~HttpClient() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stop = true;
  }
  curl_multi_wakeup(impl_->multi);
  impl_->thread.join();
  curl_multi_cleanup(impl_->multi);
}

void HttpClient::Start(HttpRequest request, HttpCallback done) {
  auto t = std::make_unique<Transfer>();
  t->req = std::move(request);
  t->done = std::move(done);
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stop) {
      t->done(MakeError(Errc::kCancelled, "http client shutting down"));
      return;
    }
    impl_->pending.push_back(std::move(t));
  }
  curl_multi_wakeup(impl_->multi);
}

Result<HttpResponse> HttpClient::Fetch(HttpRequest request) {
  auto promise = std::make_shared<std::promise<Result<HttpResponse>>>();
  auto future = promise->get_future();
  Start(std::move(request), [promise](Result<HttpResponse> r) { promise->set_value(std::move(r)); });
  return future.get();  // bounded: every transfer carries a timeout
}

uint64_t HttpClient::transfers() const { return impl_->transfers.load(); }
uint64_t HttpClient::connections_opened() const { return impl_->connections.load(); }

void HttpClient::Impl::Begin(std::unique_ptr<Transfer> t) {
  CURL* e = curl_easy_init();
  if (!e) {
    t->done(MakeError(Errc::kInternal, "curl_easy_init failed"));
    return;
  }
  t->easy = e;
  const HttpRequest& r = t->req;
  curl_easy_setopt(e, CURLOPT_URL, r.url.c_str());
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, 3L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(r.timeout.count()));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(r.connect_timeout.count()));
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, r.low_speed_bytes);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, r.low_speed_seconds);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &WriteCb);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
  curl_easy_setopt(e, CURLOPT_USERAGENT, "ipfskit/" IPFSKIT_VERSION);
  // Every encoding curl decodes: a server that compresses anyway is still read (blocks are
  // hashed after decoding).
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  if (r.method == "POST" || r.method == "PUT") {
    // The body stays in t->req, alive until the transfer ends; libcurl does not copy it.
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r.body.empty() ? "" : reinterpret_cast<const char*>(r.body.data()));
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
    if (r.method == "PUT") curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
  } else if (!r.body.empty()) {
    t->done(MakeError(Errc::kInvalidArgument, r.method + " " + r.url + ": a request body needs POST or PUT"));
    return;
  } else if (r.method != "GET") {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r.method.c_str());
  }
  for (const auto& h : r.headers) t->headers = curl_slist_append(t->headers, h.c_str());
  // No "Expect: 100-continue" round trip on POST.
  t->headers = curl_slist_append(t->headers, "Expect:");
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
  t->started = std::chrono::steady_clock::now();
  CURLMcode mc = curl_multi_add_handle(multi, e);
  if (mc != CURLM_OK) {
    t->done(MakeError(Errc::kInternal, std::string("curl_multi_add_handle: ") + curl_multi_strerror(mc)));
    return;
  }
  transfers.fetch_add(1);
  active.emplace(e, std::move(t));
}

void HttpClient::Impl::Finish(CURL* easy, CURLcode rc) {
  auto it = active.find(easy);
  if (it == active.end()) return;
  std::unique_ptr<Transfer> t = std::move(it->second);
  active.erase(it);
  curl_multi_remove_handle(multi, easy);
  long n = 0;
  if (curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &n) == CURLE_OK) connections.fetch_add(n);
  if (rc != CURLE_OK) {
    t->done(CurlError(rc, *t));
    return;
  }
  HttpResponse resp;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &resp.status);
  char* ct = nullptr;
  if (curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct) resp.content_type = ct;
  resp.body = std::move(t->body);
  resp.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - t->started);
  t->done(std::move(resp));
}

void HttpClient::Impl::Loop() {
  for (;;) {
    std::deque<std::unique_ptr<Transfer>> batch;
    bool stopping;
    {
      std::lock_guard<std::mutex> lock(mu);
      batch.swap(pending);
      stopping = stop;
    }
    if (stopping) {
      for (auto& t : batch) t->done(MakeError(Errc::kCancelled, "http client shutting down"));
      for (auto& [easy, t] : active) {
        curl_multi_remove_handle(multi, easy);
        t->done(MakeError(Errc::kCancelled, "http client shutting down"));
      }
      active.clear();
      return;
    }
    for (auto& t : batch) Begin(std::move(t));
    int running = 0;
    curl_multi_perform(multi, &running);
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
      if (m->msg == CURLMSG_DONE) Finish(m->easy_handle, m->data.result);
    }
    // Woken early by curl_multi_wakeup when work is queued or on shutdown.
    curl_multi_poll(multi, nullptr, 0, 200, nullptr);
  }
}

}  // namespace ipfskit
