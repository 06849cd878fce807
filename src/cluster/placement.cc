#include "cluster/placement.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace tw::cluster {
namespace {

// A strong 64-bit finaliser (splitmix64's): the scores must look independent across nodes even for
// keys that differ in few bits.
uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// The weight floor of a node that joined this instant: small, but positive so ranks stay total.
constexpr double kMinWeight = 1e-3;

}  // namespace

uint64_t NodeHash(std::string_view node_id) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : node_id) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ull;
  }
  return Mix(h);
}

Placement::Placement(const MemberList& members, const PlacementOptions& options, uint64_t now_ms) {
  nodes_.reserve(members.members.size());
  for (const Member& m : members.members) {
    Node n;
    n.member = m;
    n.id_hash = NodeHash(m.node_id);
    if (options.join_ramp_ms > 0 && m.joined_ms > 0 && now_ms < m.joined_ms + options.join_ramp_ms) {
      const double age = now_ms > m.joined_ms ? static_cast<double>(now_ms - m.joined_ms) : 0.0;
      n.weight = std::max(kMinWeight, age / static_cast<double>(options.join_ramp_ms));
    }
    nodes_.push_back(std::move(n));
  }
}

int Placement::IndexOf(const std::string& node_id) const {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].member.node_id == node_id) return static_cast<int>(i);
  }
  return -1;
}

double Placement::Score(const BlockKey& key, size_t i) const {
  uint64_t k0, k1;
  std::memcpy(&k0, key.bytes, 8);
  std::memcpy(&k1, key.bytes + 8, 8);
  const uint64_t h = Mix(Mix(k0 ^ nodes_[i].id_hash) ^ k1);
  // u uniform in (0, 1): 53 random bits, offset by half a step so it is never 0 or 1.
  const double u = (static_cast<double>(h >> 11) + 0.5) * (1.0 / 9007199254740992.0);
  return -nodes_[i].weight / std::log(u);
}

std::vector<size_t> Placement::Rank(const BlockKey& key) const {
  std::vector<std::pair<double, size_t>> scored;
  scored.reserve(nodes_.size());
  for (size_t i = 0; i < nodes_.size(); ++i) scored.emplace_back(Score(key, i), i);
  std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::vector<size_t> out;
  out.reserve(scored.size());
  for (const auto& [score, i] : scored) out.push_back(i);
  return out;
}

std::vector<size_t> Placement::Owners(const BlockKey& key, uint32_t replicas) const {
  std::vector<size_t> rank = Rank(key);
  if (rank.size() > replicas) rank.resize(replicas);
  return rank;
}

std::vector<size_t> Placement::ReadOrder(const BlockKey& key, uint32_t replicas) const {
  const std::vector<size_t> rank = Rank(key);
  std::vector<size_t> out;
  auto add = [&out](size_t i) {
    if (std::find(out.begin(), out.end(), i) == out.end()) out.push_back(i);
  };
  for (size_t r = 0; r < rank.size() && r < replicas; ++r) add(rank[r]);
  // Stable owners: the rank among settled nodes (a weight below 1 means still joining).
  uint32_t stable = 0;
  for (size_t r = 0; r < rank.size() && stable < replicas; ++r) {
    if (nodes_[rank[r]].weight < 1.0) continue;
    add(rank[r]);
    ++stable;
  }
  if (rank.size() > replicas) add(rank[replicas]);
  return out;
}

}  // namespace tw::cluster
