// EtcdClient over the JSON gateway. httplib and nlohmann::json stay inside this file; both are used
// in their non-throwing forms (httplib reports errors by value, json::parse with allow_exceptions =
// false), so no exception crosses out of it.
#include "cluster/etcd_client.h"

#include <httplib.h>

#include <nlohmann/json.hpp>

namespace tw::cluster {
namespace {

using Json = nlohmann::json;

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// The gateway prints int64 as strings; older or newer ones may print numbers. Accept both.
int64_t Int64Field(const Json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    const std::string& s = it->get_ref<const std::string&>();
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    return end && *end == '\0' ? static_cast<int64_t>(v) : 0;
  }
  return 0;
}

std::string StringField(const Json& obj, const char* name) {
  auto it = obj.find(name);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool ParseKv(const Json& j, EtcdKeyValue* kv) {
  if (!j.is_object()) return false;
  if (!Base64Decode(StringField(j, "key"), &kv->key)) return false;
  if (!Base64Decode(StringField(j, "value"), &kv->value)) return false;
  kv->create_revision = Int64Field(j, "create_revision");
  kv->mod_revision = Int64Field(j, "mod_revision");
  kv->lease = Int64Field(j, "lease");
  return true;
}

Result<Json> ParseJson(const std::string& body) {
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::Internal("etcd answered with malformed JSON");
  if (j.contains("error") || j.contains("code")) {
    return Status::Unavailable("etcd error: " + StringField(j, "error") + StringField(j, "message"));
  }
  return j;
}

std::pair<std::string, int> SplitHostPort(const std::string& endpoint) {
  size_t colon = endpoint.rfind(':');
  return {endpoint.substr(0, colon), std::atoi(endpoint.c_str() + colon + 1)};
}

}  // namespace

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(kB64[(v >> s) & 63]);
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    if (rest == 2) v |= uint8_t(bytes[i + 1]) << 8;
    out.push_back(kB64[(v >> 18) & 63]);
    out.push_back(kB64[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kB64[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

bool Base64Decode(std::string_view text, std::string* out) {
  out->clear();
  if (text.size() % 4 != 0) return false;
  uint32_t acc = 0;
  int bits = 0;
  size_t pad = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+') v = 62;
    else if (c == '/') v = 63;
    else if (c == '=' && i >= text.size() - 2) { ++pad; continue; }
    else return false;
    if (pad) return false;  // data after padding
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return true;
}

std::string PrefixRangeEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    if (static_cast<uint8_t>(end.back()) < 0xff) {
      end.back() = static_cast<char>(static_cast<uint8_t>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

Result<std::vector<std::string>> ParseEtcdUrl(std::string_view url) {
  constexpr std::string_view kScheme = "etcd://";
  if (url.substr(0, kScheme.size()) == kScheme) url.remove_prefix(kScheme.size());
  std::vector<std::string> out;
  while (!url.empty()) {
    size_t comma = url.find(',');
    std::string_view ep = url.substr(0, comma);
    size_t colon = ep.rfind(':');
    if (ep.empty() || colon == std::string_view::npos || colon == 0 || colon + 1 == ep.size()) {
      return Status::InvalidArgument("bad etcd endpoint '" + std::string(ep) + "': want HOST:PORT");
    }
    for (char c : ep.substr(colon + 1)) {
      if (c < '0' || c > '9') return Status::InvalidArgument("bad etcd port in '" + std::string(ep) + "'");
    }
    out.emplace_back(ep);
    if (comma == std::string_view::npos) break;
    url.remove_prefix(comma + 1);
  }
  if (out.empty()) return Status::InvalidArgument("no etcd endpoint given (want etcd://HOST:PORT[,HOST:PORT])");
  return out;
}

Result<std::unique_ptr<EtcdClient>> EtcdClient::Create(const EtcdOptions& options) {
  if (options.endpoints.empty()) return Status::InvalidArgument("EtcdClient needs at least one endpoint");
  if (options.timeout_ms == 0) return Status::InvalidArgument("EtcdClient timeout_ms must be > 0");
  return std::unique_ptr<EtcdClient>(new EtcdClient(options));
}

EtcdClient::EtcdClient(const EtcdOptions& options) : options_(options) {}
EtcdClient::~EtcdClient() = default;

void EtcdClient::CancelWatches() {
  std::lock_guard<std::mutex> lock(mu_);
  for (httplib::Client* c : watches_) c->stop();
}

std::string EtcdClient::current_endpoint() const {
  std::lock_guard<std::mutex> lock(mu_);
  return answered_ ? options_.endpoints[preferred_] : std::string();
}

Result<std::string> EtcdClient::Call(const std::string& path, const std::string& body) {
  size_t first;
  {
    std::lock_guard<std::mutex> lock(mu_);
    first = preferred_;
  }
  std::string last_error = "no endpoint";
  const size_t n = options_.endpoints.size();
  const time_t sec = options_.timeout_ms / 1000;
  const time_t usec = (options_.timeout_ms % 1000) * 1000;
  for (size_t i = 0; i < n; ++i) {
    const size_t idx = (first + i) % n;
    auto [host, port] = SplitHostPort(options_.endpoints[idx]);
    httplib::Client cli(host, port);
    cli.set_connection_timeout(sec, usec);
    cli.set_read_timeout(sec, usec);
    cli.set_write_timeout(sec, usec);
    auto res = cli.Post(path, body, "application/json");
    if (!res) {
      last_error = options_.endpoints[idx] + ": " + httplib::to_string(res.error());
      continue;
    }
    if (res->status >= 500) {
      last_error = options_.endpoints[idx] + ": HTTP " + std::to_string(res->status) + " " + res->body;
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      preferred_ = idx;
      answered_ = true;
    }
    if (res->status != 200) {
      // 4xx: etcd understood and refused (for example a lease it no longer has).
      if (res->body.find("requested lease not found") != std::string::npos) return Status::NotFound("etcd: lease not found");
      return Status::Unavailable("etcd " + path + ": HTTP " + std::to_string(res->status) + " " + res->body);
    }
    return std::move(res->body);
  }
  return Status::Unavailable("etcd unreachable (" + last_error + ")");
}

Result<int64_t> EtcdClient::LeaseGrant(int64_t ttl_s) {
  TW_ASSIGN_OR_RETURN(std::string body, Call("/v3/lease/grant", Json{{"TTL", std::to_string(ttl_s)}}.dump()));
  TW_ASSIGN_OR_RETURN(Json j, ParseJson(body));
  int64_t id = Int64Field(j, "ID");
  if (id == 0) return Status::Unavailable("etcd granted no lease: " + StringField(j, "error"));
  return id;
}

Result<int64_t> EtcdClient::LeaseKeepAlive(int64_t lease_id) {
  TW_ASSIGN_OR_RETURN(std::string body, Call("/v3/lease/keepalive", Json{{"ID", std::to_string(lease_id)}}.dump()));
  // The gateway wraps each message of the gRPC stream as {"result": {...}}; one request, one message.
  size_t nl = body.find('\n');
  if (nl != std::string::npos) body.resize(nl);
  TW_ASSIGN_OR_RETURN(Json j, ParseJson(body));
  const Json& r = j.contains("result") ? j["result"] : j;
  const int64_t ttl = Int64Field(r, "TTL");
  // An unknown lease answers with no TTL (0): it expired while we were away.
  if (ttl <= 0) return Status::NotFound("etcd lease " + std::to_string(lease_id) + " expired");
  return ttl;
}

Status EtcdClient::LeaseRevoke(int64_t lease_id) {
  auto r = Call("/v3/lease/revoke", Json{{"ID", std::to_string(lease_id)}}.dump());
  if (!r.ok() && !r.status().IsNotFound()) return r.status();
  return Status::Ok();
}

Status EtcdClient::Put(const std::string& key, const std::string& value, int64_t lease_id) {
  Json req{{"key", Base64Encode(key)}, {"value", Base64Encode(value)}};
  if (lease_id != 0) req["lease"] = std::to_string(lease_id);
  TW_ASSIGN_OR_RETURN(std::string body, Call("/v3/kv/put", req.dump()));
  return ParseJson(body).status();
}

Status EtcdClient::Delete(const std::string& key) {
  TW_ASSIGN_OR_RETURN(std::string body, Call("/v3/kv/deleterange", Json{{"key", Base64Encode(key)}}.dump()));
  return ParseJson(body).status();
}

Result<EtcdRange> EtcdClient::RangePrefix(const std::string& prefix) {
  Json req{{"key", Base64Encode(prefix)}, {"range_end", Base64Encode(PrefixRangeEnd(prefix))}};
  TW_ASSIGN_OR_RETURN(std::string body, Call("/v3/kv/range", req.dump()));
  TW_ASSIGN_OR_RETURN(Json j, ParseJson(body));
  EtcdRange out;
  if (j.contains("header")) out.revision = Int64Field(j["header"], "revision");
  if (j.contains("kvs") && j["kvs"].is_array()) {
    for (const Json& e : j["kvs"]) {
      EtcdKeyValue kv;
      if (!ParseKv(e, &kv)) return Status::Internal("etcd range: malformed key-value");
      out.kvs.push_back(std::move(kv));
    }
  }
  return out;
}

Status EtcdClient::Watch(const std::string& prefix, int64_t start_revision,
                         const std::function<void(const std::vector<EtcdEvent>&)>& on_events,
                         const std::atomic<bool>& stop) {
  std::string endpoint = current_endpoint();
  if (endpoint.empty()) endpoint = options_.endpoints[0];
  auto [host, port] = SplitHostPort(endpoint);
  httplib::Client cli(host, port);
  cli.set_connection_timeout(options_.timeout_ms / 1000, (options_.timeout_ms % 1000) * 1000);
  // An idle watch sends nothing; ask etcd for progress notifications and treat a long silence as a
  // dead stream, so a watch on a vanished etcd ends instead of hanging forever.
  cli.set_read_timeout(std::max<time_t>(15, 3 * options_.timeout_ms / 1000), 0);
  Json create{{"key", Base64Encode(prefix)}, {"range_end", Base64Encode(PrefixRangeEnd(prefix))},
              {"progress_notify", true}};
  if (start_revision > 0) create["start_revision"] = std::to_string(start_revision);
  httplib::Request req;
  req.method = "POST";
  req.path = "/v3/watch";
  req.body = Json{{"create_request", create}}.dump();
  req.set_header("Content-Type", "application/json");
  std::string buffer;
  Status failure;
  req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
    if (stop.load()) return false;
    buffer.append(data, len);
    size_t nl;
    while ((nl = buffer.find('\n')) != std::string::npos) {
      std::string line = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      if (line.empty()) continue;
      Json j = Json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object()) continue;
      if (j.contains("error")) {
        failure = Status::Unavailable("etcd watch error: " + j["error"].dump());
        return false;
      }
      if (!j.contains("result")) continue;
      const Json& r = j["result"];
      if (r.contains("canceled") && r["canceled"].is_boolean() && r["canceled"].get<bool>()) {
        failure = Status::Unavailable("etcd canceled the watch: " + StringField(r, "cancel_reason"));
        return false;
      }
      if (!r.contains("events") || !r["events"].is_array()) continue;
      std::vector<EtcdEvent> events;
      for (const Json& e : r["events"]) {
        EtcdEvent ev;
        ev.deleted = StringField(e, "type") == "DELETE";
        if (e.contains("kv")) (void)ParseKv(e["kv"], &ev.kv);
        events.push_back(std::move(ev));
      }
      if (!events.empty()) on_events(events);
    }
    return !stop.load();
  };
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  {
    std::lock_guard<std::mutex> lock(mu_);
    watches_.push_back(&cli);
  }
  if (!stop.load()) (void)cli.send(req, res, error);
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::erase(watches_, &cli);
  }
  if (stop.load()) return Status::Ok();
  if (!failure.ok()) return failure;
  return Status::Unavailable("etcd watch on " + endpoint + " ended: " + httplib::to_string(error));
}

}  // namespace tw::cluster
