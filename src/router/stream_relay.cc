#include "router/stream_relay.h"

namespace tw::router {

StreamRelay::StreamRelay(Upstream upstream, std::function<void(bool, bool)> on_end) : on_end_(std::move(on_end)) {
  thread_ = std::thread([this, u = std::move(upstream)]() mutable { Run(std::move(u)); });
}

StreamRelay::~StreamRelay() {
  Cancel();
  if (thread_.joinable()) thread_.join();
}

void StreamRelay::Run(Upstream u) {
  httplib::Client cli(u.host, u.port);
  cli.set_connection_timeout(std::chrono::milliseconds(u.connect_timeout_ms));
  cli.set_read_timeout(std::chrono::milliseconds(u.read_timeout_ms));
  httplib::Request req;
  req.method = "POST";
  req.path = u.path;
  req.headers = u.headers;
  req.body = std::move(u.body);
  req.response_handler = [this](const httplib::Response& r) {
    std::lock_guard lock(mu_);
    status_ = r.status;
    content_type_ = r.get_header_value("Content-Type");
    headers_ = true;
    cv_.notify_all();
    return !cancelled_;
  };
  req.content_receiver = [this](const char* data, size_t n, uint64_t, uint64_t) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return cancelled_ || queued_bytes_ < kMaxQueuedBytes; });
    if (cancelled_) return false;
    chunks_.emplace_back(data, n);
    queued_bytes_ += n;
    cv_.notify_all();
    return true;
  };
  httplib::Result result = cli.send(req);
  bool answered, complete;
  {
    std::lock_guard lock(mu_);
    answered = headers_;
    complete = static_cast<bool>(result) && !cancelled_;
    if (!result) error_ = httplib::to_string(result.error());
    done_ = true;
    cv_.notify_all();
  }
  if (on_end_) on_end_(answered, complete);
}

bool StreamRelay::WaitForHeaders() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return headers_ || done_; });
  return headers_;
}

std::string StreamRelay::error() const {
  std::lock_guard lock(mu_);
  return error_;
}

bool StreamRelay::Pump(httplib::DataSink& sink) {
  std::deque<std::string> out;
  bool ended;
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !chunks_.empty() || done_ || cancelled_; });
    out.swap(chunks_);
    queued_bytes_ = 0;
    ended = done_ || cancelled_;
    cv_.notify_all();
  }
  for (const std::string& c : out) {
    if (!sink.write(c.data(), c.size())) {
      Cancel();
      return false;
    }
  }
  if (ended) sink.done();
  return true;
}

void StreamRelay::Cancel() {
  std::lock_guard lock(mu_);
  cancelled_ = true;
  cv_.notify_all();
}

}  // namespace tw::router
