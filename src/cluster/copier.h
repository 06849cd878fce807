// Copier: copies objects to peer nodes in the background at a bounded byte rate.
//
// Both ways objects move between nodes go through it: read repair (a client found an object beyond
// an owner that missed it) and re-replication (a node restores R copies after a peer left, or hands
// objects to a node that joined). The rate bound is what keeps a fresh node from being flooded and
// keeps repair traffic from crowding out the reads it exists to protect. Objects are immutable, so
// a copy that races with another copy of the same key is harmless: the second Put is a no-op.
//
// Queue policy: at most `max_queued_bytes` wait; Offer refuses more (the caller counts a drop; the
// next read or scan offers it again). Thread-safety: all methods are thread-safe; one worker thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "cluster/member.h"
#include "cluster/peer_set.h"

namespace tw::cluster {

struct CopyTask {
  Member target;
  NamespaceId ns;  // the id in `peers`' namespace table
  BlockKey key;
  std::vector<std::byte> data;  // the whole object
  uint64_t expires_in_ms = 0;   // the object's remaining lifetime (PutItem::expires_in_ms); 0: none
};

struct CopierStats {
  uint64_t copied = 0;
  uint64_t copied_bytes = 0;
  uint64_t failed = 0;
  uint64_t dropped = 0;
  uint64_t queued = 0;        // tasks waiting now
  uint64_t queued_bytes = 0;  // bytes waiting now
};

class Copier {
 public:
  // `bytes_per_s` > 0. `peers` must outlive the Copier.
  Copier(PeerSet* peers, uint64_t bytes_per_s, uint64_t max_queued_bytes);
  ~Copier();

  // Queues a copy; false (dropped) if the queue is full.
  bool Offer(CopyTask task);
  // Blocks until the queue is empty and nothing is in flight.
  void Drain();
  CopierStats stats() const;

 private:
  void Run();

  PeerSet* peers_;
  const uint64_t bytes_per_s_;
  const uint64_t max_queued_bytes_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<CopyTask> queue_;  // GUARDED_BY(mu_)
  uint64_t queued_bytes_ = 0;   // GUARDED_BY(mu_)
  bool busy_ = false;           // GUARDED_BY(mu_)
  bool stop_ = false;           // GUARDED_BY(mu_)
  CopierStats stats_;           // GUARDED_BY(mu_)
  std::thread worker_;
};

}  // namespace tw::cluster
