#include "cluster/membership.h"

#include <algorithm>

#include "common/clock.h"
#include "common/logging.h"

namespace tw::cluster {

// After a failed call to etcd: soon enough to notice its return, slow enough not to hammer it.
constexpr uint64_t kRetryMs = 250;

Result<std::unique_ptr<Membership>> Membership::Start(const MembershipOptions& options) {
  if (options.prefix.empty() || options.prefix.back() != '/') {
    return Status::InvalidArgument("membership prefix must end with '/'");
  }
  if (options.lease_ttl_s < 1) return Status::InvalidArgument("lease_ttl_s must be >= 1");
  if (options.self && (options.self->node_id.empty() || options.self->addr.empty() ||
                       options.self->node_id.find('/') != std::string::npos)) {
    return Status::InvalidArgument("a node needs a node_id (no '/') and an advertised address");
  }
  TW_ASSIGN_OR_RETURN(auto etcd, EtcdClient::Create({options.etcd_endpoints, options.etcd_timeout_ms}));
  std::unique_ptr<Membership> m(new Membership(options, std::move(etcd)));
  m->loop_ = std::thread([p = m.get()] { p->Loop(); });
  m->watch_ = std::thread([p = m.get()] { p->WatchLoop(); });
  return m;
}

Membership::Membership(const MembershipOptions& options, std::unique_ptr<EtcdClient> etcd)
    : options_(options), etcd_(std::move(etcd)), list_(std::make_shared<MemberList>()) {}

Membership::~Membership() { Stop(/*revoke=*/true); }

void Membership::Abandon() { Stop(/*revoke=*/false); }

void Membership::Stop(bool revoke) {
  if (stop_.exchange(true)) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cv_.notify_all();
  }
  etcd_->CancelWatches();
  if (loop_.joinable()) loop_.join();
  if (watch_.joinable()) watch_.join();
  if (revoke && lease_id_ != 0) (void)etcd_->LeaseRevoke(lease_id_);
}

std::shared_ptr<const MemberList> Membership::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return list_;
}

MembershipHealth Membership::health() const {
  std::lock_guard<std::mutex> lock(mu_);
  return health_;
}

bool Membership::WaitForFirstList(uint32_t timeout_ms) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [this] { return have_list_; });
}

void Membership::NoteResult(const Status& s) {
  std::lock_guard<std::mutex> lock(mu_);
  if (s.ok()) {
    if (!health_.etcd_ok && health_.etcd_outages > 0) {
      TW_LOG_INFO("cluster: etcd reachable again at {}", etcd_->current_endpoint());
    }
    health_.etcd_ok = true;
    health_.last_ok_ms = SteadyClock::Default()->NowMs();
    return;
  }
  ++health_.etcd_errors;
  health_.last_error = s.ToString();
  if (health_.etcd_ok || health_.etcd_errors == 1) {
    ++health_.etcd_outages;
    TW_LOG_WARN("cluster: etcd unreachable ({}); serving with the last membership seen ({} members)",
                health_.last_error, list_->members.size());
  }
  health_.etcd_ok = false;
  if (list_ && !list_->stale) {
    auto stale = std::make_shared<MemberList>(*list_);
    stale->stale = true;
    list_ = std::move(stale);
  }
}

bool Membership::KeepRegistered(uint64_t now_ms) {
  if (!options_.self) return true;
  if (lease_id_ != 0 && now_ms < next_keepalive_ms_) return true;
  if (lease_id_ != 0) {
    auto ttl = etcd_->LeaseKeepAlive(lease_id_);
    if (ttl.ok()) {
      next_keepalive_ms_ = now_ms + options_.lease_ttl_s * 1000 / 3;
      NoteResult(Status::Ok());
      return true;
    }
    if (!ttl.status().IsNotFound()) {
      NoteResult(ttl.status());
      next_keepalive_ms_ = now_ms + kRetryMs;  // etcd away: retry soon, without spinning
      return false;
    }
    // Expired while etcd could not hear us (a partition, a long pause): register afresh.
    TW_LOG_WARN("cluster: lease of node {} expired; registering again", options_.self->node_id);
    lease_id_ = 0;
    std::lock_guard<std::mutex> lock(mu_);
    health_.registered = false;
    ++health_.lease_regrants;
  }
  auto lease = etcd_->LeaseGrant(options_.lease_ttl_s);
  if (!lease.ok()) {
    NoteResult(lease.status());
    return false;
  }
  Status put = etcd_->Put(options_.prefix + options_.self->node_id, EncodeMember(*options_.self), *lease);
  if (!put.ok()) {
    (void)etcd_->LeaseRevoke(*lease);
    NoteResult(put);
    return false;
  }
  lease_id_ = *lease;
  next_keepalive_ms_ = now_ms + options_.lease_ttl_s * 1000 / 3;
  NoteResult(Status::Ok());
  std::lock_guard<std::mutex> lock(mu_);
  health_.registered = true;
  return true;
}

bool Membership::Refresh() {
  auto range = etcd_->RangePrefix(options_.prefix);
  if (!range.ok()) {
    NoteResult(range.status());
    return false;
  }
  auto list = std::make_shared<MemberList>();
  list->revision = range->revision;
  for (const EtcdKeyValue& kv : range->kvs) {
    auto m = DecodeMember(kv.value);
    if (!m.ok()) {
      TW_LOG_WARN("cluster: ignoring malformed member {}: {}", kv.key, m.status().ToString());
      continue;
    }
    list->members.push_back(std::move(*m));
  }
  std::sort(list->members.begin(), list->members.end(),
            [](const Member& a, const Member& b) { return a.node_id < b.node_id; });
  revision_.store(range->revision);
  NoteResult(Status::Ok());
  std::shared_ptr<const MemberList> changed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const bool differs = list->members != list_->members;
    list_ = list;
    if (differs || !have_list_) {
      if (differs) ++health_.changes;
      changed = list;
    }
    have_list_ = true;
    cv_.notify_all();
  }
  if (changed) {
    std::string names;
    for (const Member& m : changed->members) names += (names.empty() ? "" : ",") + m.node_id;
    TW_LOG_INFO("cluster: membership at revision {}: {} nodes [{}]", changed->revision, changed->members.size(), names);
    if (options_.on_change) options_.on_change(changed);
  }
  return true;
}

void Membership::Loop() {
  uint64_t next_refresh_ms = 0;
  while (!stop_.load()) {
    const uint64_t now = SteadyClock::Default()->NowMs();
    bool ok = KeepRegistered(now);
    bool kicked;
    {
      std::lock_guard<std::mutex> lock(mu_);
      kicked = kicked_;
      kicked_ = false;
    }
    if (kicked || now >= next_refresh_ms) {
      ok = Refresh() && ok;
      next_refresh_ms = now + options_.resync_ms;
    }
    uint64_t wake = next_refresh_ms;
    if (options_.self && lease_id_ != 0) wake = std::min(wake, next_keepalive_ms_);
    if (!ok) wake = std::min(wake, now + kRetryMs);
    std::unique_lock<std::mutex> lock(mu_);
    const uint64_t after = SteadyClock::Default()->NowMs();
    if (wake > after) {
      cv_.wait_for(lock, std::chrono::milliseconds(wake - after), [this] { return stop_.load() || kicked_; });
    }
  }
}

void Membership::WatchLoop() {
  while (!stop_.load()) {
    const int64_t rev = revision_.load();
    if (rev > 0) {
      Status s = etcd_->Watch(
          options_.prefix, rev + 1,
          [this](const std::vector<EtcdEvent>&) {
            std::lock_guard<std::mutex> lock(mu_);
            kicked_ = true;
            cv_.notify_all();
          },
          stop_);
      (void)s;  // the loop's periodic refresh reports etcd's health; the watch only speeds it up
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(250), [this] { return stop_.load(); });
  }
}

}  // namespace tw::cluster
