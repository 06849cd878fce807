#include "cluster/local_etcd.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

namespace tw::cluster {

int FreePort(const std::string& host) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 && getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

bool WaitForPort(int port, int timeout_ms, const std::string& host) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) {
      close(fd);
      return false;
    }
    a.sin_port = htons(static_cast<uint16_t>(port));
    const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    close(fd);
    if (ok) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

Result<std::unique_ptr<LocalEtcd>> LocalEtcd::Start(const std::string& host) {
  if (access("/usr/bin/etcd", X_OK) != 0) return Status::NotSupported("etcd is not installed (apt-get install etcd-server)");
  std::unique_ptr<LocalEtcd> e(new LocalEtcd());
  char tmpl[] = "/tmp/tw-etcd-XXXXXX";
  if (!mkdtemp(tmpl)) return Status::IOError("mkdtemp failed");
  e->dir_ = tmpl;
  e->host_ = host;
  e->client_port_ = FreePort(host);
  e->peer_port_ = FreePort(host);
  TW_RETURN_IF_ERROR(e->Spawn());
  return e;
}

Status LocalEtcd::Spawn() {
  const std::string client = "http://" + host_ + ":" + std::to_string(client_port_);
  const std::string peer = "http://" + host_ + ":" + std::to_string(peer_port_);
  pid_ = fork();
  if (pid_ == 0) {
    int null = open((dir_ + "/etcd.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(null, 1);
    dup2(null, 2);
    execl("/usr/bin/etcd", "etcd", "--name", "tw-test", "--data-dir", (dir_ + "/data").c_str(),
          "--listen-client-urls", client.c_str(), "--advertise-client-urls", client.c_str(),
          "--listen-peer-urls", peer.c_str(), "--initial-advertise-peer-urls", peer.c_str(),
          "--initial-cluster", ("tw-test=" + peer).c_str(), "--log-level", "error", nullptr);
    _exit(127);
  }
  if (pid_ < 0) return Status::IOError("fork failed");
  if (!WaitForPort(client_port_, 15000, host_)) return Status::Unavailable("etcd did not start; see " + dir_ + "/etcd.log");
  // Listening is not serving: until it has elected itself leader (about a second, longer on a
  // loaded machine) etcd holds writes, and a caller with a short timeout would see them fail.
  // /health says true once it has a leader.
  httplib::Client cli(host_, client_port_);
  cli.set_connection_timeout(1, 0);
  cli.set_read_timeout(2, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    auto res = cli.Get("/health");
    if (res && res->status == 200 && res->body.find("\"true\"") != std::string::npos) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Status::Unavailable("etcd did not elect a leader in 15 s; see " + dir_ + "/etcd.log");
}

void LocalEtcd::Kill() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
}

Status LocalEtcd::Restart() {
  Kill();
  return Spawn();
}

LocalEtcd::~LocalEtcd() {
  Kill();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

}  // namespace tw::cluster
