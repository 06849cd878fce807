// Membership: this process's view of the cluster, kept in step with etcd.
//
// A node registers itself under `<prefix><node_id>` with a lease of `lease_ttl_s` that it renews
// every third of the TTL; if the process dies, etcd drops the key when the lease runs out and every
// observer removes the node from placement. Clients observe without registering.
//
// How the view stays current: a watch on the prefix wakes the loop on every change, and the loop
// re-reads the whole prefix (a handful of keys) each time and every `resync_ms` anyway, so a lost
// watch event or a broken stream costs at most resync_ms of staleness, never a wrong view forever.
//
// etcd outage: every call to etcd is bounded by `etcd_timeout_ms`. When etcd cannot be reached the
// view is frozen at the last list seen (marked stale), the node keeps serving with it, the outage is
// logged once, counted, and reported by health(); calls resume as soon as etcd answers. A lease
// that expired meanwhile is re-granted and the key re-written, keeping this incarnation's joined_ms
// (its data survived, so it should not ramp up again).
//
// Thread-safety: all public methods are thread-safe. Two internal threads: the loop and the watch.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "cluster/etcd_client.h"
#include "cluster/member.h"

namespace tw::cluster {

struct MembershipOptions {
  std::vector<std::string> etcd_endpoints;  // "host:port"
  std::string prefix = "/tokenwarehouse/default/nodes/";
  std::optional<Member> self;               // set: register this node; unset: observe only
  uint32_t lease_ttl_s = 10;
  uint32_t resync_ms = 1000;
  uint32_t etcd_timeout_ms = 1000;
  // Called on the loop thread after the member list changed (not on staleness alone). Must not block long.
  std::function<void(std::shared_ptr<const MemberList>)> on_change;
};

struct MembershipHealth {
  bool etcd_ok = false;          // the last call to etcd succeeded
  bool registered = false;       // this node's key is believed to be in etcd
  uint64_t etcd_errors = 0;      // failed calls, cumulative
  uint64_t etcd_outages = 0;     // transitions from ok to unreachable
  uint64_t lease_regrants = 0;   // leases granted after the first (expired while cut off)
  uint64_t changes = 0;          // member list changes seen
  uint64_t last_ok_ms = 0;       // steady-clock ms of the last successful call
  std::string last_error;
};

class Membership final : public MemberSource {
 public:
  // Starts the threads; does not wait for etcd (it may come up later). kInvalidArgument for bad options.
  static Result<std::unique_ptr<Membership>> Start(const MembershipOptions& options);
  // Stops the threads and, if registered, revokes the lease so peers see the node leave at once.
  ~Membership() override;

  std::shared_ptr<const MemberList> Current() const override;
  MembershipHealth health() const;
  // Blocks until the list has been read from etcd at least once, or `timeout_ms` passes.
  bool WaitForFirstList(uint32_t timeout_ms) const;
  // Stops without revoking: the key lingers until the lease expires, as after a crash. For tests.
  void Abandon();

 private:
  explicit Membership(const MembershipOptions& options, std::unique_ptr<EtcdClient> etcd);
  void Loop();
  void WatchLoop();
  // One round of registration / keepalive. Returns false if etcd failed.
  bool KeepRegistered(uint64_t now_ms);
  bool Refresh();
  void NoteResult(const Status& s);
  void Stop(bool revoke);

  const MembershipOptions options_;
  std::unique_ptr<EtcdClient> etcd_;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::shared_ptr<const MemberList> list_;  // GUARDED_BY(mu_)
  MembershipHealth health_;                 // GUARDED_BY(mu_)
  bool kicked_ = false;                     // GUARDED_BY(mu_): the watch saw a change
  bool have_list_ = false;                  // GUARDED_BY(mu_)

  // Loop-thread state.
  int64_t lease_id_ = 0;
  uint64_t next_keepalive_ms_ = 0;
  std::atomic<int64_t> revision_{0};

  std::atomic<bool> stop_{false};
  std::thread loop_;
  std::thread watch_;
};

}  // namespace tw::cluster
