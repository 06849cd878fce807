// Member and MemberList: who is in the cluster, as one observer last saw it.
//
// A member is a warehouse node registered in etcd under `<prefix><node_id>` with a lease the node
// keeps alive; its value is a small JSON object ({"node_id","addr","joined_ms","admin"}). A MemberList is
// an immutable snapshot: placement and the cluster store read one snapshot per call, so a call
// never sees membership change halfway.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tw/result.h"

namespace tw::cluster {

struct Member {
  std::string node_id;  // unique and stable across restarts of the node
  std::string addr;     // where clients and peers reach its daemon, "host:port"
  // Wall-clock ms when this incarnation registered. Placement ramps a node's weight up from here,
  // so a restarted (empty) node becomes an owner gradually again.
  uint64_t joined_ms = 0;
  std::string admin;    // its admin HTTP host:port (/metrics, /stats); may be empty

  friend bool operator==(const Member&, const Member&) = default;
};

struct MemberList {
  std::vector<Member> members;  // sorted by node_id
  int64_t revision = 0;         // etcd revision it was read at (0: not from etcd)
  bool stale = false;           // etcd was unreachable when last asked: this is the last list seen

  const Member* Find(const std::string& node_id) const;
};

// The member's etcd value, and back. kInvalidArgument for a value that does not parse.
std::string EncodeMember(const Member& member);
Result<Member> DecodeMember(std::string_view value);

// Where a MemberList comes from: etcd (Membership) or a fixed list (tests, single-host setups).
// Thread-safe; Current never blocks on the network.
class MemberSource {
 public:
  virtual ~MemberSource() = default;
  virtual std::shared_ptr<const MemberList> Current() const = 0;
};

// A MemberSource whose list the owner sets. For tests and for a static cluster without etcd.
class StaticMembers final : public MemberSource {
 public:
  explicit StaticMembers(std::vector<Member> members = {});
  std::shared_ptr<const MemberList> Current() const override;
  void Set(std::vector<Member> members);

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const MemberList> list_;  // GUARDED_BY(mu_)
};

}  // namespace tw::cluster
