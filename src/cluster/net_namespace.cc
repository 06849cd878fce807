#include "cluster/net_namespace.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <random>
#include <sstream>

#include "common/logging.h"

namespace tw::cluster {
namespace {

// Runs ip; its exit code (127: could not run it) and what it printed.
int Ip(const std::vector<std::string>& args, std::string* output) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return -1;
  std::vector<std::string> argv_s = {"ip"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pipefd[1], 1);
    dup2(pipefd[1], 2);
    execvp("ip", argv.data());
    _exit(127);
  }
  close(pipefd[1]);
  if (pid < 0) {
    close(pipefd[0]);
    return -1;
  }
  char buf[512];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0 && output) output->append(buf, static_cast<size_t>(n));
  }
  close(pipefd[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string Join(const std::vector<std::string>& args) {
  std::string s = "ip";
  for (const auto& a : args) s += " " + a;
  return s;
}

// Namespaces "tw-<pid>-<n>" whose process is gone were leaked by a run that was killed.
void RemoveLeaked() {
  std::string out;
  if (Ip({"netns", "list"}, &out) != 0) return;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    const std::string name = line.substr(0, line.find(' '));
    long pid = 0;
    if (std::sscanf(name.c_str(), "tw-%ld-", &pid) != 1 || pid <= 0) continue;
    if (kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    TW_LOG_INFO("removing network namespace {} left by an earlier run", name);
    // The daemons that run died with it keep the namespace alive (and its address in use): they
    // were started there by that run, and nothing else runs in a namespace of this name.
    std::string pids;
    if (Ip({"netns", "pids", name}, &pids) == 0) {
      std::istringstream in(pids);
      long p = 0;
      while (in >> p) {
        if (p > 1) kill(static_cast<pid_t>(p), SIGKILL);
      }
    }
    (void)Ip({"netns", "del", name}, nullptr);
  }
}

// A /30 of 10.0.0.0/8 that no address or route here mentions.
bool PickSubnet(std::string* host_addr, std::string* addr) {
  std::string used;
  (void)Ip({"-4", "-o", "addr", "show"}, &used);
  (void)Ip({"-4", "route", "show", "table", "all"}, &used);
  std::mt19937 rng(std::random_device{}() ^ static_cast<unsigned>(getpid()));
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int a = 200 + static_cast<int>(rng() % 50), b = static_cast<int>(rng() % 256), c = static_cast<int>(rng() % 64) * 4;
    const std::string prefix = "10." + std::to_string(a) + "." + std::to_string(b) + ".";
    if (used.find(prefix) != std::string::npos) continue;
    *host_addr = prefix + std::to_string(c + 1);
    *addr = prefix + std::to_string(c + 2);
    return true;
  }
  return false;
}

}  // namespace

Status RunIp(const std::vector<std::string>& args) {
  std::string out;
  const int rc = Ip(args, &out);
  if (rc == 0) return Status::Ok();
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  if (rc == 127) return Status::NotSupported("cannot run `ip`: install iproute2 (scripts/install-deps.sh)");
  return Status::Unavailable("`" + Join(args) + "` failed (exit " + std::to_string(rc) + "): " + out);
}

Result<std::unique_ptr<NetNamespace>> NetNamespace::Create() {
  if (geteuid() != 0) {
    return Status::PermissionDenied("creating network namespaces needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN)");
  }
  RemoveLeaked();
  static std::atomic<int> seq{0};
  const int n = seq.fetch_add(1);
  std::unique_ptr<NetNamespace> ns(new NetNamespace());
  ns->name_ = "tw-" + std::to_string(getpid()) + "-" + std::to_string(n);
  char tag[16];
  std::snprintf(tag, sizeof tag, "tw%06x%02x", static_cast<unsigned>(getpid()) & 0xffffff, static_cast<unsigned>(n) & 0xff);
  ns->host_link_ = std::string(tag) + "h";  // interface names: at most 15 characters
  ns->ns_link_ = std::string(tag) + "n";
  if (!PickSubnet(&ns->host_addr_, &ns->addr_)) return Status::Unavailable("no free /30 in 10.200.0.0-10.249.255.255");

  TW_RETURN_IF_ERROR(RunIp({"netns", "add", ns->name_}).WithContext("creating a network namespace"));
  // From here on, a failure returns `ns`, whose destructor removes what was made.
  TW_RETURN_IF_ERROR(RunIp({"link", "add", ns->host_link_, "type", "veth", "peer", "name", ns->ns_link_, "netns", ns->name_}));
  TW_RETURN_IF_ERROR(RunIp({"addr", "add", ns->host_addr_ + "/30", "dev", ns->host_link_}));
  TW_RETURN_IF_ERROR(RunIp({"link", "set", ns->host_link_, "up"}));
  TW_RETURN_IF_ERROR(RunIp({"-n", ns->name_, "addr", "add", ns->addr_ + "/30", "dev", ns->ns_link_}));
  TW_RETURN_IF_ERROR(RunIp({"-n", ns->name_, "link", "set", ns->ns_link_, "up"}));
  TW_RETURN_IF_ERROR(RunIp({"-n", ns->name_, "link", "set", "lo", "up"}));
  return ns;
}

NetNamespace::~NetNamespace() {
  if (name_.empty()) return;
  // Deleting either end of a veth pair deletes both; the namespace goes once no process is inside.
  (void)Ip({"link", "del", host_link_}, nullptr);
  Status s = RunIp({"netns", "del", name_});
  if (!s.ok()) TW_LOG_WARN("network namespace {} not removed: {}", name_, s.ToString());
}

Status NetNamespace::Cut() {
  TW_RETURN_IF_ERROR(RunIp({"-n", name_, "link", "set", ns_link_, "down"}));
  cut_ = true;
  return Status::Ok();
}

Status NetNamespace::Restore() {
  TW_RETURN_IF_ERROR(RunIp({"-n", name_, "link", "set", ns_link_, "up"}));
  cut_ = false;
  return Status::Ok();
}

std::string NetNamespacePath(const std::string& name) { return "/var/run/netns/" + name; }

bool EnterNetNamespace(const char* path) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = setns(fd, CLONE_NEWNET) == 0;
  close(fd);
  return ok;
}

}  // namespace tw::cluster
