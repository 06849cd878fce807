#include "cluster/copier.h"

#include <algorithm>
#include <chrono>

namespace tw::cluster {

Copier::Copier(PeerSet* peers, uint64_t bytes_per_s, uint64_t max_queued_bytes)
    : peers_(peers), bytes_per_s_(std::max<uint64_t>(1, bytes_per_s)), max_queued_bytes_(max_queued_bytes) {
  worker_ = std::thread([this] { Run(); });
}

Copier::~Copier() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  worker_.join();
}

bool Copier::Offer(CopyTask task) {
  std::lock_guard<std::mutex> lock(mu_);
  // One object may always queue alone, however large: otherwise a budget below the object size
  // would starve it forever.
  if (!queue_.empty() && queued_bytes_ + task.data.size() > max_queued_bytes_) {
    ++stats_.dropped;
    return false;
  }
  queued_bytes_ += task.data.size();
  queue_.push_back(std::move(task));
  cv_.notify_all();
  return true;
}

void Copier::Drain() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return (queue_.empty() && !busy_) || stop_; });
}

CopierStats Copier::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  CopierStats s = stats_;
  s.queued = queue_.size();
  s.queued_bytes = queued_bytes_;
  return s;
}

void Copier::Run() {
  // Pacing: after sending n bytes the next send may start n / rate seconds later. Simple, and
  // exact over any window longer than one object.
  auto next_send = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (stop_) break;
    if (cv_.wait_until(lock, next_send, [this] { return stop_; })) break;
    CopyTask task = std::move(queue_.front());
    queue_.pop_front();
    queued_bytes_ -= task.data.size();
    busy_ = true;
    lock.unlock();

    Status s;
    auto bound = peers_->Bind(task.target, task.ns);
    if (bound.ok()) {
      // The copy keeps the original's deadline: a replica never outlives the object it copies.
      const PutItem item{BlockRef{task.key, bound->root}, task.data, task.expires_in_ms};
      BatchStatus b = bound->store->PutBatch(bound->ns, std::span<const PutItem>(&item, 1));
      s = !b.transport.ok() ? b.transport : b.items.size() == 1 ? b.items[0] : Status::Internal("put answered no item");
      peers_->Record(task.target.node_id, s);
    } else {
      s = bound.status();
    }
    const auto now = std::chrono::steady_clock::now();
    next_send = std::max(next_send, now - std::chrono::seconds(1)) +
                std::chrono::microseconds(task.data.size() * 1000000 / bytes_per_s_);

    lock.lock();
    busy_ = false;
    if (s.ok()) {
      ++stats_.copied;
      stats_.copied_bytes += task.data.size();
    } else {
      ++stats_.failed;
    }
    if (queue_.empty()) idle_cv_.notify_all();
  }
  busy_ = false;
  idle_cv_.notify_all();
}

}  // namespace tw::cluster
