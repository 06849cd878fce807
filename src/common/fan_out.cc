#include "common/fan_out.h"

#include <atomic>
#include <memory>

namespace tw {

FanOut::FanOut(size_t threads) {
  threads_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
}

FanOut::~FanOut() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void FanOut::Work() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_ and nothing left
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

void FanOut::For(size_t n, const std::function<void(size_t)>& fn) {
  if (n == 0) return;
  if (n == 1 || threads_.empty()) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  // Shared with helpers that may start after this call returned (they then find no item left and
  // touch only this block, never `fn`).
  struct Batch {
    std::atomic<size_t> next{0};
    size_t n = 0;
    const std::function<void(size_t)>* fn = nullptr;
    std::mutex mu;
    std::condition_variable done_cv;
    size_t done = 0;  // GUARDED_BY(mu)
  };
  auto batch = std::make_shared<Batch>();
  batch->n = n;
  batch->fn = &fn;
  auto drain = [](Batch& b) {
    for (size_t i; (i = b.next.fetch_add(1)) < b.n;) {
      (*b.fn)(i);
      std::lock_guard<std::mutex> lock(b.mu);
      if (++b.done == b.n) b.done_cv.notify_all();
    }
  };
  const size_t helpers = std::min(n - 1, threads_.size());
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t h = 0; h < helpers; ++h) queue_.push_back([batch, drain] { drain(*batch); });
  }
  if (helpers == 1) wake_.notify_one();
  else wake_.notify_all();
  drain(*batch);
  std::unique_lock<std::mutex> lock(batch->mu);
  batch->done_cv.wait(lock, [&] { return batch->done == batch->n; });
}

}  // namespace tw
