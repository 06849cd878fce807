// DaemonProcess: a real `tokenwarehouse serve` started with fork/exec on free ports, for
// integration tests. The binary path comes from the build (TW_BINARY).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tw/client.h"

namespace tw::testing {

// Polls `done` every 10 ms until it holds or `timeout` passes; returns its last answer. Tests wait
// for what the daemon does in the background this way, never by sleeping a guessed time and then
// asserting (a sanitizer build or a loaded CI machine makes any guess wrong).
template <typename Pred>
bool PollUntil(Pred&& done, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

class DaemonProcess {
 public:
  // `config_yaml` is written to a file and passed with --config; flags pick free ports.
  explicit DaemonProcess(const std::string& config_yaml = "", std::string listen = "127.0.0.1:0") : listen_(std::move(listen)) {
    static int counter = 0;
    dir_ = std::filesystem::temp_directory_path() / ("tw-it-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(dir_);
    config_path_ = (dir_ / "config.yaml").string();
    config_yaml_ = config_yaml;
    std::ofstream(config_path_) << config_yaml;
    Start();
  }
  ~DaemonProcess() {
    Kill(SIGKILL);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void Start() {
    const std::string ready = (dir_ / "ready").string();
    std::filesystem::remove(ready);
    std::vector<std::string> args = {TW_BINARY, "serve", "--config", config_path_, "--listen", listen_, "--admin", "127.0.0.1:0",
                                     "--unix", (dir_ / "tw.sock").string(), "--data-dir", dir_.string(), "--dram", "128MiB",
                                     "--ready-file", ready, "--log-level", "warn"};
    // The tests store short prompts: every prefix is kept unless the test's config speaks of
    // min_prefix_tokens (a comment naming it is enough to get the daemon's default, 1,024).
    if (config_yaml_.find("min_prefix_tokens") == std::string::npos) {
      args.insert(args.end(), {"--min-prefix-tokens", "0"});
    }
    pid_ = fork();
    if (pid_ == 0) {
      std::freopen((dir_ / "daemon.log").c_str(), "a", stdout);
      std::freopen((dir_ / "daemon.log").c_str(), "a", stderr);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    for (int i = 0; i < 600 && !std::filesystem::exists(ready); ++i) {
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {  // it gave up (bad config, port taken): stop waiting
        pid_ = -1;
        exit_status_ = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::ifstream in(ready);
    std::string line;
    while (std::getline(in, line)) {
      auto eq = line.find('=');
      if (eq != std::string::npos) fields_[line.substr(0, eq)] = line.substr(eq + 1);
    }
  }

  bool ready() const { return fields_.count("tcp") && !fields_.at("tcp").empty(); }
  std::string tcp_url() const { return "tw://" + fields_.at("tcp"); }
  std::string unix_url() const { return "unix://" + fields_.at("unix"); }
  std::string admin() const { return fields_.at("admin"); }
  // Any line of the ready file ("events.<tenant>", ...); "" when absent.
  std::string field(const std::string& name) const {
    auto it = fields_.find(name);
    return it == fields_.end() ? "" : it->second;
  }
  uint16_t tcp_port() const { return static_cast<uint16_t>(std::stoi(fields_.at("tcp").substr(fields_.at("tcp").rfind(':') + 1))); }
  pid_t pid() const { return pid_; }
  std::string log() const {
    std::ifstream in(dir_ / "daemon.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  void Signal(int sig) {
    if (pid_ > 0) kill(pid_, sig);
  }
  // Waits for exit; returns the exit status (or -1 on timeout / signal).
  int Wait(int timeout_ms = 20000) {
    if (pid_ <= 0) return exit_status_;
    for (int i = 0; i < timeout_ms / 10; ++i) {
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }
  bool alive() { return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }

  // The body of GET `path` on the admin HTTP listener ("" if it cannot be reached).
  std::string HttpGet(const std::string& path) const {
    const std::string a = admin();
    const uint16_t port = static_cast<uint16_t>(std::stoi(a.substr(a.rfind(':') + 1)));
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(port);
    std::string text;
    if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
      const std::string req = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
      if (send(fd, req.data(), req.size(), 0) == static_cast<ssize_t>(req.size())) {
        char buf[65536];
        ssize_t n;
        while ((n = recv(fd, buf, sizeof buf, 0)) > 0) text.append(buf, static_cast<size_t>(n));
      }
    }
    close(fd);
    const size_t body = text.find("\r\n\r\n");
    return body == std::string::npos ? "" : text.substr(body + 4);
  }
  void Kill(int sig) {
    if (pid_ <= 0) return;
    kill(pid_, sig);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  std::filesystem::path dir_;
  std::string config_path_;
  std::string config_yaml_;
  std::string listen_;
  pid_t pid_ = -1;
  int exit_status_ = -1;  // of a daemon that exited during Start
  std::map<std::string, std::string> fields_;
};

// A client of `d` over TCP, with a timeout generous enough for sanitizer builds and loaded CI
// machines; null (and a test failure saying why) if it cannot connect.
inline std::unique_ptr<Store> ConnectTcp(const DaemonProcess& d) {
  ClientOptions o;
  o.io_timeout_ms = 10000;
  auto s = OpenStore(d.tcp_url(), o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(*s) : nullptr;
}

}  // namespace tw::testing
