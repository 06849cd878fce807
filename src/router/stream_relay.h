// StreamRelay: passes one streamed response (SSE, `stream: true`) from an engine to the client as
// it is produced, chunk by chunk, without waiting for the whole body.
//
// cpp-httplib answers a client from a content provider that it calls on the server thread, and
// reads an upstream response through callbacks on the thread that sent the request. The relay joins
// the two: a thread of its own sends the request to the engine and queues each chunk; the server
// thread writes queued chunks to the client. The queue is bounded (kMaxQueuedBytes): a slow client
// slows the engine's read instead of growing memory. A client that goes away cancels the upstream
// read, so the engine sees its connection close and aborts the request.
//
// Before the engine has answered, the caller can still pick another engine: WaitForHeaders() tells
// whether the engine answered at all (a connection refused or cut before the status line is a
// failure that nothing was relayed for).
//
// Thread-safety: Start once; WaitForHeaders and Pump from one (server) thread; Cancel from any.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include <httplib.h>

namespace tw::router {

class StreamRelay {
 public:
  static constexpr size_t kMaxQueuedBytes = 1 << 20;

  struct Upstream {
    std::string host;
    uint16_t port = 0;
    std::string path, body;
    httplib::Headers headers;
    uint64_t connect_timeout_ms = 1000, read_timeout_ms = 600'000;
  };

  // Starts the upstream request. `on_end(answered, complete)` runs once, on the relay's thread, when
  // the upstream exchange ends: answered = the engine sent a status line; complete = the body ended
  // normally.
  StreamRelay(Upstream upstream, std::function<void(bool answered, bool complete)> on_end);
  ~StreamRelay();  // cancels and joins

  // Blocks until the engine's status line and headers arrived (true), or the exchange failed before
  // them (false: nothing was relayed; try another engine).
  bool WaitForHeaders();
  int status() const { return status_; }
  const std::string& content_type() const { return content_type_; }
  std::string error() const;

  // The content provider's body: writes what is queued to `sink`, waiting for more; false once the
  // client is gone (then the upstream read is cancelled). Ends the sink when the upstream body ends.
  bool Pump(httplib::DataSink& sink);
  void Cancel();

 private:
  void Run(Upstream upstream);

  std::function<void(bool, bool)> on_end_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool headers_ = false;   // GUARDED_BY(mu_)
  bool done_ = false;      // GUARDED_BY(mu_)
  bool cancelled_ = false; // GUARDED_BY(mu_)
  std::deque<std::string> chunks_;  // GUARDED_BY(mu_)
  size_t queued_bytes_ = 0;         // GUARDED_BY(mu_)
  std::string error_;               // GUARDED_BY(mu_)
  int status_ = 0;                  // written before headers_ is set, read after
  std::string content_type_;        // likewise
  std::thread thread_;
};

}  // namespace tw::router
