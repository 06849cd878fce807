#include "cluster/member.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace tw::cluster {

const Member* MemberList::Find(const std::string& node_id) const {
  for (const Member& m : members) {
    if (m.node_id == node_id) return &m;
  }
  return nullptr;
}

std::string EncodeMember(const Member& member) {
  nlohmann::json j{{"node_id", member.node_id}, {"addr", member.addr}, {"joined_ms", member.joined_ms}};
  if (!member.admin.empty()) j["admin"] = member.admin;
  return j.dump();
}

Result<Member> DecodeMember(std::string_view value) {
  auto j = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::InvalidArgument("member value is not a JSON object");
  auto id = j.find("node_id");
  auto addr = j.find("addr");
  auto joined = j.find("joined_ms");
  if (id == j.end() || !id->is_string() || addr == j.end() || !addr->is_string()) {
    return Status::InvalidArgument("member value lacks node_id or addr");
  }
  Member m;
  m.node_id = id->get<std::string>();
  m.addr = addr->get<std::string>();
  if (joined != j.end() && joined->is_number_unsigned()) m.joined_ms = joined->get<uint64_t>();
  auto admin = j.find("admin");
  if (admin != j.end() && admin->is_string()) m.admin = admin->get<std::string>();
  if (m.node_id.empty() || m.addr.empty()) return Status::InvalidArgument("member value has an empty node_id or addr");
  return m;
}

StaticMembers::StaticMembers(std::vector<Member> members) { Set(std::move(members)); }

std::shared_ptr<const MemberList> StaticMembers::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return list_;
}

void StaticMembers::Set(std::vector<Member> members) {
  std::sort(members.begin(), members.end(), [](const Member& a, const Member& b) { return a.node_id < b.node_id; });
  auto list = std::make_shared<MemberList>();
  list->members = std::move(members);
  std::lock_guard<std::mutex> lock(mu_);
  list_ = std::move(list);
}

}  // namespace tw::cluster
