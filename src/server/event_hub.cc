#include "server/event_hub.h"

#include <algorithm>

namespace tw::server {

std::shared_ptr<EventHub::Subscriber> EventHub::Subscribe(std::string tenant, std::function<void()> wake) {
  auto sub = std::make_shared<Subscriber>();
  sub->tenant = std::move(tenant);
  sub->wake = std::move(wake);
  std::lock_guard<std::mutex> lock(mu_);
  subscribers_.push_back(sub);
  count_.store(subscribers_.size(), std::memory_order_relaxed);
  return sub;
}

void EventHub::Unsubscribe(const std::shared_ptr<Subscriber>& sub) {
  std::lock_guard<std::mutex> lock(mu_);
  subscribers_.erase(std::remove(subscribers_.begin(), subscribers_.end(), sub), subscribers_.end());
  count_.store(subscribers_.size(), std::memory_order_relaxed);
}

size_t EventHub::Publish(const std::string& tenant, const net::Event& event) {
  std::vector<std::shared_ptr<Subscriber>> targets;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (subscribers_.empty()) return 0;
    for (const auto& s : subscribers_) {
      if (s->tenant == tenant) targets.push_back(s);
    }
  }
  for (const auto& s : targets) {
    {
      std::lock_guard<std::mutex> lock(s->mu);
      if (s->queue.size() >= kMaxQueued) {
        s->overflowed = true;
      } else {
        s->queue.push_back(event);
      }
    }
    s->wake();
  }
  return targets.size();
}

}  // namespace tw::server
