// EventHub: fans SUBSCRIBE events (block stored / removed) out to subscribed connections of the
// same tenant. Subscribers never see another tenant's namespaces. A subscriber that falls more than
// kMaxQueued events behind is marked overflowed and its connection closed: a router that missed
// events must resynchronise, and silent gaps would be worse.
//
// Thread-safety: all methods may be called from any thread. `mu_` guards the subscriber list; each
// subscriber's own mutex guards its queue. Lock order: hub -> subscriber.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "net/messages.h"

namespace tw::server {

class EventHub {
 public:
  static constexpr size_t kMaxQueued = 65536;

  struct Subscriber {
    std::string tenant;
    std::function<void()> wake;  // called (outside every hub lock) after events are queued
    std::mutex mu;
    std::deque<net::Event> queue;  // GUARDED_BY(mu)
    bool overflowed = false;       // GUARDED_BY(mu)
  };

  std::shared_ptr<Subscriber> Subscribe(std::string tenant, std::function<void()> wake);
  void Unsubscribe(const std::shared_ptr<Subscriber>& sub);
  // Returns how many subscribers received the event.
  size_t Publish(const std::string& tenant, const net::Event& event);
  // A cheap check (no lock) for callers that must do work to build an event.
  bool HasSubscribers() const { return count_.load(std::memory_order_relaxed) > 0; }

 private:
  std::mutex mu_;
  std::vector<std::shared_ptr<Subscriber>> subscribers_;  // GUARDED_BY(mu_)
  std::atomic<size_t> count_{0};                          // subscribers_.size(), readable without mu_
};

}  // namespace tw::server
