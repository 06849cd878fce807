// NetNamespace: a network namespace joined to this one by a point-to-point veth link, for tests
// that need a node on its own "host" which they can cut off the network and reconnect.
//
//   this namespace                       the new namespace
//   <name>h  host_addr()/30  <--veth-->  <name>n  addr()/30   (+ lo)
//
// A process started inside (EnterNetNamespace in a forked child) reaches this namespace's
// processes at host_addr() and only there; they reach it at addr(). Cut() takes the link down on
// the namespace's side: packets from here are silently dropped (connects and calls time out, as
// across a real partition; the route here stays, so nothing falls through to a default route),
// and the node's own sends fail at once. Restore() brings it back; established TCP connections
// survive a short cut.
//
// Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and the `ip` tool (iproute2). Names carry this process'
// id, so parallel and earlier runs never collide; Create first removes namespaces that earlier
// runs leaked (their process is gone), killing what still runs inside them. The destructor deletes the namespace, and with it both
// ends of the link; processes still inside keep it alive until they exit, so stop them first.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tw/result.h"

namespace tw::cluster {

class NetNamespace {
 public:
  // kPermissionDenied if not root; kNotSupported if `ip` is missing; kUnavailable (with ip's own
  // message) if the kernel refuses (no netns support, a container without CAP_SYS_ADMIN).
  static Result<std::unique_ptr<NetNamespace>> Create();
  ~NetNamespace();
  NetNamespace(const NetNamespace&) = delete;
  NetNamespace& operator=(const NetNamespace&) = delete;

  const std::string& name() const { return name_; }
  const std::string& addr() const { return addr_; }            // the address inside
  const std::string& host_addr() const { return host_addr_; }  // this namespace's end of the link
  bool cut() const { return cut_; }

  Status Cut();
  Status Restore();

 private:
  NetNamespace() = default;
  std::string name_;
  std::string host_link_, ns_link_;
  std::string addr_, host_addr_;
  bool cut_ = false;
};

// Moves the calling thread into the namespace named `name` (as `ip netns exec` does). For a
// forked child before exec: `path` must be NetNamespacePath(name), built before the fork, and
// the call allocates nothing. Returns false on failure (errno set).
std::string NetNamespacePath(const std::string& name);
bool EnterNetNamespace(const char* path);

// Runs `ip` with `args`; kUnavailable carrying ip's output if it exits non-zero.
Status RunIp(const std::vector<std::string>& args);

}  // namespace tw::cluster
