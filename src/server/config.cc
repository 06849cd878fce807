#include "server/config.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <type_traits>

#include <yaml-cpp/yaml.h>

#include "tw/policy.h"

namespace tw::server {

namespace {

// yaml-cpp reports errors by throwing; everything below runs inside one try block in
// ParseServerConfig, which turns them into a Status.
struct KeyError {
  std::string message;
};

void CheckKeys(const YAML::Node& node, const std::string& where, std::initializer_list<const char*> known) {
  if (!node) return;
  if (!node.IsMap()) throw KeyError{where + " must be a mapping"};
  std::set<std::string> allowed(known.begin(), known.end());
  for (const auto& kv : node) {
    std::string key = kv.first.as<std::string>();
    if (!allowed.count(key)) throw KeyError{"unknown key '" + (where.empty() ? key : where + "." + key) + "'"};
  }
}

template <typename T>
const char* ExpectedType() {
  if constexpr (std::is_same_v<T, bool>) return "true or false";
  else if constexpr (std::is_integral_v<T>) return "a non-negative integer";
  else if constexpr (std::is_floating_point_v<T>) return "a number";
  else return "a string";
}

template <typename T>
void Read(const YAML::Node& node, const char* key, T* out) {
  if (!node || !node[key]) return;
  try {
    *out = node[key].as<T>();
  } catch (const YAML::BadConversion&) {
    // yaml-cpp says only "bad conversion": name the key, what it holds and what it should.
    throw KeyError{std::string(key) + ": expected " + ExpectedType<T>() + ", got '" +
                   (node[key].IsScalar() ? node[key].Scalar() : std::string("a non-scalar")) + "'"};
  }
}

void ReadBytes(const YAML::Node& node, const char* key, uint64_t* out) {
  if (!node || !node[key]) return;
  Result<uint64_t> v = ParseBytes(node[key].as<std::string>());
  if (!v.ok()) throw KeyError{std::string(key) + ": " + std::string(v.status().message())};
  *out = *v;
}

// A retention class at node[key] (tw/retention.h); absent leaves *out unchanged.
void ReadRetention(const YAML::Node& node, const char* key, const std::string& where, std::optional<Retention>* out) {
  if (!node || !node[key]) return;
  Result<Retention> r = ParseRetention(node[key].as<std::string>());
  if (!r.ok()) throw KeyError{where + ": " + std::string(r.status().message())};
  *out = *r;
}

void ReadBytes32(const YAML::Node& node, const char* key, uint32_t* out) {
  uint64_t v = *out;
  ReadBytes(node, key, &v);
  if (v > UINT32_MAX) throw KeyError{std::string(key) + " is too large"};
  *out = static_cast<uint32_t>(v);
}

}  // namespace

RetentionConfig ServerConfig::RetentionOf(const std::string& tenant) const {
  RetentionConfig out = retention;
  for (const TenantConfig& t : tenants) {
    if (t.name != tenant) continue;
    if (t.retention) out.retention = *t.retention;
    if (t.min_prefix_tokens) out.min_prefix_tokens = *t.min_prefix_tokens;
  }
  return out;
}

std::string ServerConfig::UnixSocketPath() const {
  if (unix_socket == "none") return "";
  if (unix_socket.empty()) return data_dir + "/tw.sock";
  return unix_socket;
}

Result<uint64_t> ParseBytes(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  size_t start = i;
  uint64_t v = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    if (v > (UINT64_MAX - 9) / 10) return Status::InvalidArgument("size too large: " + std::string(text));
    v = v * 10 + static_cast<uint64_t>(text[i] - '0');
    ++i;
  }
  if (i == start) return Status::InvalidArgument("not a size: '" + std::string(text) + "'");
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  std::string unit(text.substr(i));
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  uint64_t mult = 1;
  if (unit.empty() || unit == "b") mult = 1;
  else if (unit == "k" || unit == "kb" || unit == "kib") mult = 1ull << 10;
  else if (unit == "m" || unit == "mb" || unit == "mib") mult = 1ull << 20;
  else if (unit == "g" || unit == "gb" || unit == "gib") mult = 1ull << 30;
  else if (unit == "t" || unit == "tb" || unit == "tib") mult = 1ull << 40;
  else return Status::InvalidArgument("unknown size unit in '" + std::string(text) + "' (use KiB, MiB, GiB, TiB)");
  if (v > UINT64_MAX / mult) return Status::InvalidArgument("size too large: " + std::string(text));
  return v * mult;
}

Result<ServerConfig> ParseServerConfig(const std::string& yaml_text) {
  ServerConfig c;
  try {
    YAML::Node root = YAML::Load(yaml_text);
    if (!root || root.IsNull()) return c;
    CheckKeys(root, "", {"listen", "unix_socket", "admin_listen", "data_dir", "io_threads", "store_threads", "dram", "disk", "auth",
                         "shared_memory", "limits", "tls", "log_level", "events", "economics", "retention"});
    Read(root, "listen", &c.listen);
    Read(root, "unix_socket", &c.unix_socket);
    Read(root, "admin_listen", &c.admin_listen);
    Read(root, "data_dir", &c.data_dir);
    Read(root, "io_threads", &c.io_threads);
    Read(root, "store_threads", &c.store_threads);
    Read(root, "log_level", &c.log_level);
    Read(root, "shared_memory", &c.shared_memory);

    const YAML::Node dram = root["dram"];
    CheckKeys(dram, "dram", {"capacity_bytes", "page_bytes", "huge_pages", "eviction"});
    ReadBytes(dram, "capacity_bytes", &c.dram_capacity_bytes);
    ReadBytes(dram, "page_bytes", &c.page_bytes);
    Read(dram, "huge_pages", &c.huge_pages);
    if (dram && dram["eviction"]) {
      Result<EvictionPolicyKind> e = ParseEvictionPolicyKind(dram["eviction"].as<std::string>());
      if (!e.ok()) throw KeyError{"dram.eviction: " + std::string(e.status().message())};
      c.eviction = *e;
    }

    const YAML::Node disk = root["disk"];
    CheckKeys(disk, "disk", {"enabled", "directory", "capacity_bytes", "admission", "sync_interval_ms", "io_bytes",
                            "io_depth", "read_threads"});
    Read(disk, "enabled", &c.disk_enabled);
    Read(disk, "directory", &c.disk_directory);
    ReadBytes(disk, "capacity_bytes", &c.disk_capacity_bytes);
    Read(disk, "admission", &c.disk_admission);
    Read(disk, "sync_interval_ms", &c.disk_sync_interval_ms);
    ReadBytes(disk, "io_bytes", &c.disk_io_bytes);
    Read(disk, "io_depth", &c.disk_io_depth);
    Read(disk, "read_threads", &c.disk_read_threads);
    if (!ParseDiskAdmission(c.disk_admission).ok()) {
      throw KeyError{"disk.admission must be write_through or on_evict, not '" + c.disk_admission + "'"};
    }

    const YAML::Node retention = root["retention"];
    CheckKeys(retention, "retention", {"class", "min_prefix_tokens"});
    {
      std::optional<Retention> r;
      ReadRetention(retention, "class", "retention.class", &r);
      if (r) c.retention.retention = *r;
      Read(retention, "min_prefix_tokens", &c.retention.min_prefix_tokens);
    }

    const YAML::Node auth = root["auth"];
    CheckKeys(auth, "auth", {"allow_anonymous_loopback", "anonymous_tenant", "anonymous_shared_memory", "tenants"});
    Read(auth, "allow_anonymous_loopback", &c.allow_anonymous_loopback);
    Read(auth, "anonymous_tenant", &c.anonymous_tenant);
    Read(auth, "anonymous_shared_memory", &c.anonymous_shared_memory);
    if (auth && auth["tenants"]) {
      if (!auth["tenants"].IsSequence()) throw KeyError{"auth.tenants must be a list"};
      for (const YAML::Node& t : auth["tenants"]) {
        CheckKeys(t, "auth.tenants[]", {"name", "token_sha256", "quota_bytes", "shared_memory", "cluster_peer", "admin",
                                        "retention", "min_prefix_tokens"});
        TenantConfig tc;
        Read(t, "name", &tc.name);
        Read(t, "token_sha256", &tc.token_sha256);
        ReadBytes(t, "quota_bytes", &tc.quota_bytes);
        Read(t, "shared_memory", &tc.shared_memory);
        Read(t, "cluster_peer", &tc.cluster_peer);
        Read(t, "admin", &tc.admin);
        ReadRetention(t, "retention", "auth.tenants[" + tc.name + "].retention", &tc.retention);
        if (t["min_prefix_tokens"]) {
          uint32_t n = 0;
          Read(t, "min_prefix_tokens", &n);
          tc.min_prefix_tokens = n;
        }
        c.tenants.push_back(std::move(tc));
      }
    }

    if (root["events"]) {
      if (!root["events"].IsSequence()) throw KeyError{"events must be a list of {tenant, endpoint, ...}"};
      for (const YAML::Node& e : root["events"]) {
        CheckKeys(e, "events[]", {"tenant", "endpoint", "replay_endpoint", "topic", "buffer_batches", "hwm", "max_queue_events"});
        KvEventsEndpoint ke;
        Read(e, "tenant", &ke.tenant);
        Read(e, "endpoint", &ke.endpoint);
        Read(e, "replay_endpoint", &ke.replay_endpoint);
        Read(e, "topic", &ke.topic);
        Read(e, "buffer_batches", &ke.buffer_batches);
        Read(e, "hwm", &ke.hwm);
        Read(e, "max_queue_events", &ke.max_queue_events);
        c.kv_events.push_back(std::move(ke));
      }
    }

    const YAML::Node tls = root["tls"];
    CheckKeys(tls, "tls", {"cert_file", "key_file"});
    Read(tls, "cert_file", &c.tls_cert_file);
    Read(tls, "key_file", &c.tls_key_file);

    const YAML::Node limits = root["limits"];
    CheckKeys(limits, "limits", {"max_connections", "max_meta_bytes", "max_payload_bytes", "max_batch",
                                 "max_handles_per_connection", "idle_timeout_ms", "request_timeout_ms",
                                 "drain_timeout_ms", "lease_ms", "hello_timeout_ms", "max_connections_per_peer",
                                 "max_unfinished_write_bytes", "max_unfinished_write_bytes_per_tenant",
                                 "payload_stall_ms"});
    Read(limits, "max_connections", &c.max_connections);
    ReadBytes32(limits, "max_meta_bytes", &c.frame_limits.max_meta_bytes);
    ReadBytes(limits, "max_payload_bytes", &c.frame_limits.max_payload_bytes);
    Read(limits, "max_batch", &c.frame_limits.max_batch);
    Read(limits, "max_handles_per_connection", &c.max_handles_per_connection);
    Read(limits, "idle_timeout_ms", &c.idle_timeout_ms);
    Read(limits, "request_timeout_ms", &c.request_timeout_ms);
    Read(limits, "drain_timeout_ms", &c.drain_timeout_ms);
    Read(limits, "lease_ms", &c.lease_ms);
    Read(limits, "hello_timeout_ms", &c.hello_timeout_ms);
    Read(limits, "max_connections_per_peer", &c.max_connections_per_peer);
    ReadBytes(limits, "max_unfinished_write_bytes", &c.max_unfinished_write_bytes);
    ReadBytes(limits, "max_unfinished_write_bytes_per_tenant", &c.max_unfinished_write_bytes_per_tenant);
    Read(limits, "payload_stall_ms", &c.payload_stall_ms);

    const YAML::Node econ = root["economics"];
    CheckKeys(econ, "economics", {"prefill_tokens_per_s", "prefill_tokens_per_s_by_model", "gpu_hour_price", "currency"});
    Read(econ, "prefill_tokens_per_s", &c.economics.prefill_tokens_per_s);
    Read(econ, "gpu_hour_price", &c.economics.gpu_hour_price);
    Read(econ, "currency", &c.economics.currency);
    if (econ && econ["prefill_tokens_per_s_by_model"]) {
      const YAML::Node by = econ["prefill_tokens_per_s_by_model"];
      if (!by.IsMap()) throw KeyError{"economics.prefill_tokens_per_s_by_model must be a mapping of model id to tokens/s"};
      for (const auto& kv : by) {
        double rate = 0;
        try {
          rate = kv.second.as<double>();
        } catch (const YAML::BadConversion&) {
          throw KeyError{"economics.prefill_tokens_per_s_by_model." + kv.first.as<std::string>() + ": expected a number"};
        }
        c.economics.prefill_tokens_per_s_by_model[kv.first.as<std::string>()] = rate;
      }
    }
    if (c.economics.prefill_tokens_per_s < 0 || c.economics.gpu_hour_price < 0) {
      throw KeyError{"economics: rates and prices cannot be negative"};
    }
    for (const auto& [model, rate] : c.economics.prefill_tokens_per_s_by_model) {
      if (rate < 0) throw KeyError{"economics.prefill_tokens_per_s_by_model." + model + " cannot be negative"};
    }
  } catch (const KeyError& e) {
    return Status::InvalidArgument("config: " + e.message);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("config: ") + e.what());
  }
  return c;
}

double EconomicsConfig::PrefillRate(const std::string& model_id) const {
  auto it = prefill_tokens_per_s_by_model.find(model_id);
  return it != prefill_tokens_per_s_by_model.end() ? it->second : prefill_tokens_per_s;
}

Result<ServerConfig> LoadServerConfig(const std::string& path) {
  std::string text;
  {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return Status::IOError("cannot open config file " + path);
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
    std::fclose(f);
  }
  Result<ServerConfig> c = ParseServerConfig(text);
  if (!c.ok()) return c.status().WithContext(path);
  return c;
}

namespace {

uint64_t ReadNumberFile(const char* path) {
  std::ifstream f(path);
  std::string v;
  if (!(f >> v) || v.empty() || !std::isdigit(static_cast<unsigned char>(v[0]))) return 0;  // "max": none
  return std::strtoull(v.c_str(), nullptr, 10);
}

std::string Gib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(bytes) / (1ull << 30));
  return buf;
}

}  // namespace

MemoryInfo ReadMemoryInfo() {
  MemoryInfo m;
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page > 0) m.physical_bytes = static_cast<uint64_t>(pages) * static_cast<uint64_t>(page);
  std::ifstream meminfo("/proc/meminfo");
  std::string line;
  while (std::getline(meminfo, line)) {
    if (line.rfind("MemAvailable:", 0) == 0) {
      std::istringstream in(line.substr(13));
      uint64_t kib = 0;
      if (in >> kib) m.available_bytes = kib << 10;
    }
  }
  m.cgroup_limit_bytes = ReadNumberFile("/sys/fs/cgroup/memory.max");  // v2
  if (m.cgroup_limit_bytes) {
    m.cgroup_used_bytes = ReadNumberFile("/sys/fs/cgroup/memory.current");
  } else {
    const uint64_t v1 = ReadNumberFile("/sys/fs/cgroup/memory/memory.limit_in_bytes");
    if (v1 && v1 < (1ull << 60)) {  // v1 reports "no limit" as a huge number
      m.cgroup_limit_bytes = v1;
      m.cgroup_used_bytes = ReadNumberFile("/sys/fs/cgroup/memory/memory.usage_in_bytes");
    }
  }
  return m;
}

Status CheckDramFits(uint64_t dram_bytes, const MemoryInfo& mem) {
  uint64_t can_have = mem.available_bytes ? mem.available_bytes : mem.physical_bytes;
  if (mem.cgroup_limit_bytes) {
    const uint64_t left = mem.cgroup_limit_bytes > mem.cgroup_used_bytes ? mem.cgroup_limit_bytes - mem.cgroup_used_bytes : 0;
    can_have = can_have ? std::min(can_have, left) : left;
  }
  if (can_have == 0 || dram_bytes <= can_have) return Status::Ok();
  std::string msg = "dram.capacity_bytes (" + Gib(dram_bytes) + ") is more memory than this daemon can have: " +
                    Gib(mem.physical_bytes) + " physical, " + Gib(mem.available_bytes) + " available now";
  if (mem.cgroup_limit_bytes) msg += ", cgroup limit " + Gib(mem.cgroup_limit_bytes) + " (" + Gib(mem.cgroup_used_bytes) + " used)";
  msg += "; the arena is pre-faulted at start, so ask for at most " + Gib(can_have) + " (less, to leave the engines room)";
  return Status::InvalidArgument(msg);
}

Result<DiskSpace> ReadDiskSpace(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("cannot create disk directory " + dir + ": " + ec.message());
  struct statvfs fs{};
  if (::statvfs(dir.c_str(), &fs) != 0) return Status::IOError("cannot statvfs " + dir);
  DiskSpace space;
  space.free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".twr" && e.is_regular_file(ec)) space.own_region_bytes += e.file_size(ec);
  }
  return space;
}

Result<uint64_t> ResolveDiskCapacity(uint64_t asked, uint64_t region_bytes, const std::string& dir, const DiskSpace& space) {
  const uint64_t room = space.free_bytes + space.own_region_bytes;
  const std::string where = "the filesystem under " + dir + " has " + Gib(space.free_bytes) + " free" +
                            (space.own_region_bytes ? " (+" + Gib(space.own_region_bytes) + " in the tier's region files)" : "");
  if (asked) {
    if (asked > room) {
      return Status::InvalidArgument("disk.capacity_bytes (" + Gib(asked) + ") is more than fits: " + where +
                                     "; ask for at most " + Gib(room) + ", or disk.enabled: false");
    }
    return asked;
  }
  uint64_t capacity = std::min<uint64_t>(64ull << 30, room / 10 * 9);
  capacity -= capacity % region_bytes;
  if (capacity < 2 * region_bytes) {
    return Status::InvalidArgument(where + ": the disk tier needs at least two regions of " + Gib(region_bytes) +
                                   "; free some space, point disk.directory elsewhere, or set disk.enabled: false");
  }
  return capacity;
}

Status FinalizeConfig(ServerConfig* c) {
  const bool dram_explicit = c->dram_capacity_bytes != 0;
  static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  if (!kLevels.count(c->log_level)) {
    return Status::InvalidArgument("log_level must be trace, debug, info, warn, error, critical or off, not '" +
                                   c->log_level + "'");
  }
  if (c->dram_capacity_bytes == 0) {
    const long pages = sysconf(_SC_PHYS_PAGES);
    const long page = sysconf(_SC_PAGE_SIZE);
    uint64_t phys = pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : (8ull << 30);
    c->dram_capacity_bytes = std::min<uint64_t>(phys / 8, 4ull << 30);
  }
  if (c->page_bytes == 0) return Status::InvalidArgument("dram.page_bytes must be > 0");
  c->dram_capacity_bytes -= c->dram_capacity_bytes % c->page_bytes;
  if (c->dram_capacity_bytes == 0) return Status::InvalidArgument("dram.capacity_bytes is smaller than one page");
  if (c->io_threads == 0) c->io_threads = std::clamp<uint32_t>(std::thread::hardware_concurrency(), 1, 4);
  if (c->io_threads > 256) return Status::InvalidArgument("io_threads " + std::to_string(c->io_threads) + " is too many (at most 256)");
  if (c->store_threads == 0) c->store_threads = 8;
  if (c->store_threads > 256) {
    return Status::InvalidArgument("store_threads " + std::to_string(c->store_threads) + " is too many (at most 256)");
  }
  if (c->max_connections == 0) return Status::InvalidArgument("limits.max_connections must be at least 1 (0 refuses every client)");
  if (c->max_connections_per_peer == 0) return Status::InvalidArgument("limits.max_connections_per_peer must be at least 1");
  if (c->hello_timeout_ms == 0) return Status::InvalidArgument("limits.hello_timeout_ms must be > 0");
  if (c->payload_stall_ms == 0) return Status::InvalidArgument("limits.payload_stall_ms must be > 0");
  if (c->max_unfinished_write_bytes == 0) c->max_unfinished_write_bytes = c->dram_capacity_bytes / 2;
  if (c->max_unfinished_write_bytes_per_tenant == 0) c->max_unfinished_write_bytes_per_tenant = c->dram_capacity_bytes / 4;
  if (c->listen.empty() && c->UnixSocketPath().empty()) return Status::InvalidArgument("neither listen nor unix_socket is set");
  if (c->tls_cert_file.empty() != c->tls_key_file.empty()) {
    return Status::InvalidArgument("tls.cert_file and tls.key_file go together: set both or neither");
  }
  if (c->tls_enabled() && c->listen.empty()) return Status::InvalidArgument("tls is set but TCP is off (listen is empty)");
  if (c->frame_limits.max_batch == 0 || c->frame_limits.max_meta_bytes < 64) {
    return Status::InvalidArgument("limits.max_batch and limits.max_meta_bytes must allow at least one item");
  }
  std::set<std::string> names;
  std::set<std::string> hashes;
  for (const TenantConfig& t : c->tenants) {
    if (t.name.empty()) return Status::InvalidArgument("auth.tenants[]: a tenant needs a name");
    if (!names.insert(t.name).second) return Status::InvalidArgument("auth.tenants[]: tenant '" + t.name + "' is listed twice");
    if (t.token_sha256.size() != 64 ||
        !std::all_of(t.token_sha256.begin(), t.token_sha256.end(), [](char ch) { return std::isxdigit(static_cast<unsigned char>(ch)); })) {
      return Status::InvalidArgument("auth.tenants[" + t.name + "].token_sha256 must be 64 hex digits (tokenwarehouse serve --hash-token)");
    }
    std::string lower = t.token_sha256;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (!hashes.insert(lower).second) {
      return Status::InvalidArgument("auth.tenants[" + t.name + "].token_sha256 is another tenant's too: one token "
                                     "would be both tenants");
    }
  }
  std::set<std::string> event_tenants;
  for (const KvEventsEndpoint& e : c->kv_events) {
    if (e.tenant.empty()) return Status::InvalidArgument("events[]: each publisher names its tenant");
    if (e.endpoint.empty()) return Status::InvalidArgument("events[" + e.tenant + "]: endpoint is required");
    // One publisher a tenant: two would number the same events twice, and a router could not tell.
    if (!event_tenants.insert(e.tenant).second) return Status::InvalidArgument("events[]: tenant '" + e.tenant + "' is listed twice");
    if (e.max_queue_events == 0) return Status::InvalidArgument("events[" + e.tenant + "].max_queue_events must be > 0");
  }
  // Last, so a config that fails only this check is otherwise finalized (the banner reuses it).
  if (dram_explicit) return CheckDramFits(c->dram_capacity_bytes, ReadMemoryInfo());
  return Status::Ok();
}

}  // namespace tw::server
