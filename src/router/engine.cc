#include "router/engine.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>

namespace tw::router {

Result<EngineSpec> ParseEngineSpec(std::string_view text) {
  EngineSpec s;
  std::string_view url = text.substr(0, text.find(','));
  std::string_view rest = url.size() < text.size() ? text.substr(url.size() + 1) : std::string_view();
  constexpr std::string_view kScheme = "http://";
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument("--engine '" + std::string(text) + "': " + std::string(why) +
                                   " (expected http://host:port[,events=tcp://host:port][,topic=T][,name=N][,warehouse=URL])");
  };
  if (!url.starts_with(kScheme)) return bad("the URL must start with http://");
  url.remove_prefix(kScheme.size());
  while (url.ends_with('/')) url.remove_suffix(1);
  const size_t colon = url.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return bad("the URL needs host:port");
  s.host = std::string(url.substr(0, colon));
  if (s.host.size() > 2 && s.host.front() == '[' && s.host.back() == ']') s.host = s.host.substr(1, s.host.size() - 2);
  unsigned port = 0;
  std::string_view p = url.substr(colon + 1);
  if (std::from_chars(p.data(), p.data() + p.size(), port).ec != std::errc() || port == 0 || port > 65535) {
    return bad("bad port");
  }
  s.port = static_cast<uint16_t>(port);
  s.name = std::string(url);
  while (!rest.empty()) {
    std::string_view item = rest.substr(0, rest.find(','));
    rest = item.size() < rest.size() ? rest.substr(item.size() + 1) : std::string_view();
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) return bad("'" + std::string(item) + "' is not key=value");
    std::string_view key = item.substr(0, eq), value = item.substr(eq + 1);
    if (key == "events") s.events = value;
    else if (key == "topic") s.topic = value;
    else if (key == "name" && !value.empty()) s.name = value;
    else if (key == "warehouse") s.warehouse = value;
    else return bad("unknown key '" + std::string(key) + "'");
  }
  return s;
}

Result<double> ParseVllmLoad(std::string_view text) {
  double load = 0;
  bool found = false;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    for (std::string_view name : {"vllm:num_requests_running", "vllm:num_requests_waiting"}) {
      if (!line.starts_with(name)) continue;
      const char next = line.size() > name.size() ? line[name.size()] : '\0';
      if (next != '{' && next != ' ') continue;  // another metric sharing the prefix (..._by_reason)
      const size_t space = line.rfind(' ');
      // strtod: Prometheus writes "1.0", "3e+00", "NaN"; from_chars for double is fine too, but
      // strtod needs a terminated string.
      const std::string value(line.substr(space + 1));
      char* end = nullptr;
      const double v = std::strtod(value.c_str(), &end);
      if (end != value.c_str() && v == v) {
        load += v;
        found = true;
      }
    }
  }
  if (!found) return Status::NotFound("no vllm:num_requests_running or vllm:num_requests_waiting");
  return load;
}

Status Engine::StartEvents() {
  if (spec_.events.empty()) return Status::Ok();
  auto sub = KvEventSubscriber::Start(spec_.events, spec_.topic, &index_, spec_.name);
  if (!sub.ok()) return sub.status();
  events_ = std::move(*sub);
  return Status::Ok();
}

bool Engine::MarkUp(double polled_load, int64_t ours) {
  polled_load_.store(polled_load, std::memory_order_relaxed);
  others_load_.store(std::max(0.0, polled_load - static_cast<double>(ours)), std::memory_order_relaxed);
  return !up_.exchange(true);
}

bool Engine::MarkDown() {
  const bool was_up = up_.exchange(false);
  // Whatever it held may be gone: score it from nothing when it returns.
  if (was_up) index_.Clear();
  return was_up;
}

double Engine::load() const {
  return others_load_.load(std::memory_order_relaxed) + static_cast<double>(std::max<int64_t>(in_flight(), 0));
}

}  // namespace tw::router
