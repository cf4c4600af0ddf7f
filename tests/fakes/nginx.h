// A real nginx (Debian nginx-light) on a free loopback port, serving <root>/blocks/<cid> at
// /ipfs/<cid> (the query string is ignored, so ?format=raw works) and any other file under
// <root> by its path. Runs in the foreground as our child; the destructor stops it.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>

namespace ipfskit::testing {

inline int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind");
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

inline bool CanConnect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

class NginxServer {
 public:
  static constexpr const char* kBinary = "/usr/sbin/nginx";
  static bool Available() { return access(kBinary, X_OK) == 0; }

  // root: directory with blocks/ inside; work: a scratch directory for conf, logs and temp files.
  NginxServer(const std::string& root, const std::string& work) : work_(work) {
    for (int attempt = 0; attempt < 5 && pid_ <= 0; ++attempt) {
      port_ = FreeLoopbackPort();
      WriteConf(root);
      pid_t pid = fork();
      if (pid == 0) {
        execl(kBinary, kBinary, "-c", (work_ + "/nginx.conf").c_str(), "-p", (work_ + "/").c_str(), nullptr);
        _exit(127);
      }
      auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (std::chrono::steady_clock::now() < until) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) break;  // died (port taken?): retry
        if (CanConnect(port_)) {
          pid_ = pid;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      if (pid_ <= 0) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
      }
    }
    if (pid_ <= 0) throw std::runtime_error("nginx did not start; see " + work_ + "/error.log");
  }
  ~NginxServer() { Stop(); }
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  void WriteConf(const std::string& root) {
    std::filesystem::create_directories(work_ + "/tmp");
    std::ofstream c(work_ + "/nginx.conf");
    // master_process off: one process as the test's user, so it can read the test's 0700 dirs.
    c << "daemon off;\nmaster_process off;\nworker_processes 1;\n"
      << "pid " << work_ << "/nginx.pid;\nerror_log " << work_ << "/error.log warn;\n"
      << "events { worker_connections 256; }\n"
      << "http {\n"
      << "  access_log " << work_ << "/access.log;\n"
      << "  client_body_temp_path " << work_ << "/tmp/body;\n"
      << "  proxy_temp_path " << work_ << "/tmp/proxy;\n"
      << "  fastcgi_temp_path " << work_ << "/tmp/fastcgi;\n"
      << "  uwsgi_temp_path " << work_ << "/tmp/uwsgi;\n"
      << "  scgi_temp_path " << work_ << "/tmp/scgi;\n"
      << "  keepalive_requests 100000;\n"
      << "  server {\n"
      << "    listen 127.0.0.1:" << port_ << ";\n"
      << "    root " << root << ";\n"
      << "    location ~ ^/ipfs/(?<cid>[A-Za-z0-9]+)$ {\n"
      << "      default_type application/vnd.ipld.raw;\n"
      << "      try_files /blocks/$cid =404;\n"
      << "    }\n"
      << "  }\n"
      << "}\n";
  }

  std::string work_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace ipfskit::testing
