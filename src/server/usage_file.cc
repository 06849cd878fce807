#include "server/usage_file.h"

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace tw::server {

namespace {

constexpr int kFormatVersion = 1;

}  // namespace

Status SaveUsageFile(const std::string& path, const UsageByNamespace& usage) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& [ns, u] : usage) {
    list.push_back({{"namespace", ns.ToHex()},
                    {"write_tokens", u.write_tokens},
                    {"hit_tokens_by_tier", u.hit_tokens_by_tier},
                    {"miss_tokens", u.miss_tokens},
                    {"read_tokens", u.read_tokens}});
  }
  const std::string text = nlohmann::json{{"version", kFormatVersion}, {"namespaces", std::move(list)}}.dump();
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return Status::IOError("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return Status::IOError("cannot rename " + tmp + " to " + path);
  return Status::Ok();
}

Result<UsageByNamespace> LoadUsageFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return UsageByNamespace{};
  std::stringstream text;
  text << in.rdbuf();
  UsageByNamespace usage;
  try {
    const nlohmann::json j = nlohmann::json::parse(text.str());
    if (j.at("version").get<int>() != kFormatVersion) return Status::Corruption(path + ": unknown usage file version");
    for (const auto& row : j.at("namespaces")) {
      NamespaceId ns;
      if (!NamespaceId::FromHex(row.at("namespace").get<std::string>(), &ns)) return Status::Corruption(path + ": bad namespace id");
      UsageTotals u;
      u.write_tokens = row.at("write_tokens").get<uint64_t>();
      u.hit_tokens_by_tier = row.at("hit_tokens_by_tier").get<std::array<uint64_t, 4>>();
      for (uint64_t t : u.hit_tokens_by_tier) u.hit_tokens += t;
      u.miss_tokens = row.at("miss_tokens").get<uint64_t>();
      u.read_tokens = row.at("read_tokens").get<uint64_t>();
      usage[ns] = u;
    }
  } catch (const nlohmann::json::exception& e) {
    return Status::Corruption(path + ": " + e.what());
  }
  return usage;
}

}  // namespace tw::server
