// FanOut: runs the per-node parts of one cluster call in parallel on a fixed set of threads, instead
// of a thread per node per call (which, under load, is thousands of thread starts a second).
//
// For(n, fn) runs fn(0..n-1) and returns when all have run. The calling thread works too, taking
// items from the same counter as the pool's threads, so a call never waits on a pool that is busy
// with other calls (or with a For nested inside fn): at worst it runs every item itself. Each fn
// must touch only its own slot of shared state.
//
// Thread-safe. The destructor waits for the threads; no For may be running then.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tw {

class FanOut {
 public:
  explicit FanOut(size_t threads);
  ~FanOut();
  FanOut(const FanOut&) = delete;
  FanOut& operator=(const FanOut&) = delete;

  void For(size_t n, const std::function<void(size_t)>& fn);

 private:
  void Work();

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;  // GUARDED_BY(mu_)
  bool stop_ = false;                        // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;
};

}  // namespace tw
