#include "sim/replay.h"

#include <algorithm>

#include "common/check.h"
#include "tw/embedded_store.h"

namespace tw::sim {
namespace {

constexpr int8_t kNowhere = -1;

struct BlockState {
  int8_t tier = kNowhere;
  EntryId entry = kNoEntry;
  uint32_t pinned_by = 0;  // 1 + index of the request that pins it; 0 for none
  uint64_t next_use = PolicyHint::kUnknown;
};

// One tier: a fixed number of slots, dense entry ids recycled through a free list, and a policy.
class SimTier {
 public:
  SimTier(const TierSpec& spec, std::unique_ptr<EvictionPolicy> policy)
      : policy_(std::move(policy)), block_of_(spec.capacity_blocks, 0) {
    stats_.name = spec.name;
    stats_.capacity_blocks = spec.capacity_blocks;
    free_.reserve(spec.capacity_blocks);
    for (uint64_t i = spec.capacity_blocks; i > 0; --i) free_.push_back(static_cast<EntryId>(i - 1));
  }

  bool full() const { return free_.empty(); }
  uint32_t block_of(EntryId id) const { return block_of_[id]; }
  EvictionPolicy& policy() { return *policy_; }
  TierStats& stats() { return stats_; }

  EntryId Insert(uint32_t block, EntryId parent, const PolicyHint& hint) {
    TW_CHECK(!free_.empty());
    EntryId id = free_.back();
    free_.pop_back();
    block_of_[id] = block;
    policy_->OnInsertWithHint(id, parent, hint);
    return id;
  }

  void Erase(EntryId id) {
    policy_->OnErase(id);
    free_.push_back(id);
  }

 private:
  std::unique_ptr<EvictionPolicy> policy_;
  std::vector<uint32_t> block_of_;
  std::vector<EntryId> free_;
  TierStats stats_;
};

class Replayer {
 public:
  Replayer(const Trace& trace, const SimOptions& options) : trace_(trace), options_(options), blocks_(trace.unique_blocks) {}

  Status Init() {
    if (options_.tiers.empty()) return Status::InvalidArgument("simulate needs at least one tier");
    for (const TierSpec& spec : options_.tiers) {
      if (spec.capacity_blocks == 0) return Status::InvalidArgument("tier " + spec.name + " holds no block");
      if (spec.capacity_blocks >= kNoEntry) return Status::InvalidArgument("tier " + spec.name + " is too large");
      TW_ASSIGN_OR_RETURN(auto policy, MakeSimPolicy(options_.policy, static_cast<uint32_t>(spec.capacity_blocks)));
      tiers_.emplace_back(spec, std::move(policy));
    }
    ComputeNextUses();
    return Status::Ok();
  }

  SimResult Run() {
    SimResult r;
    r.policy = std::string(tiers_[0].policy().name());
    r.requests = trace_.requests.size();
    r.block_accesses = trace_.block_accesses;
    r.unique_blocks = trace_.unique_blocks;
    for (const TierSpec& spec : options_.tiers) r.capacity_blocks += spec.capacity_blocks;
    std::vector<double> ttft, ttft_no_cache;
    ttft.reserve(trace_.requests.size());
    ttft_no_cache.reserve(trace_.requests.size());
    uint64_t position = 0;  // index of the request's first block in the access sequence
    for (size_t ri = 0; ri < trace_.requests.size(); ++ri) {
      const TraceRequest& req = trace_.requests[ri];
      ReplayOne(req, static_cast<uint32_t>(ri + 1), position, &r, &ttft, &ttft_no_cache);
      position += req.blocks.size();
      if (options_.progress && (ri % 512 == 0 || ri + 1 == trace_.requests.size())) {
        options_.progress(ri + 1, trace_.requests.size());
      }
    }
    for (SimTier& t : tiers_) r.tiers.push_back(t.stats());
    r.hit_ratio = r.block_accesses ? static_cast<double>(r.hit_blocks) / r.block_accesses : 0;
    Summarise(&ttft, &r.ttft_mean_s, &r.ttft_p90_s);
    Summarise(&ttft_no_cache, &r.ttft_mean_no_cache_s, &r.ttft_p90_no_cache_s);
    return r;
  }

 private:
  // next_use_[k]: the position of the next access to the block accessed at position k.
  void ComputeNextUses() {
    next_use_.assign(trace_.block_accesses, PolicyHint::kUnknown);
    std::vector<uint64_t> seen(trace_.unique_blocks, PolicyHint::kUnknown);
    uint64_t k = trace_.block_accesses;
    for (auto it = trace_.requests.rbegin(); it != trace_.requests.rend(); ++it) {
      for (auto b = it->blocks.rbegin(); b != it->blocks.rend(); ++b) {
        --k;
        next_use_[k] = seen[*b];
        seen[*b] = k;
      }
    }
  }

  void ReplayOne(const TraceRequest& req, uint32_t pin, uint64_t position, SimResult* r,
                 std::vector<double>* ttft, std::vector<double>* ttft_no_cache) {
    const size_t n = req.blocks.size();
    for (uint32_t b : req.blocks) blocks_[b].pinned_by = pin;
    pin_ = pin;
    size_t hit_len = 0;
    while (hit_len < n && blocks_[req.blocks[hit_len]].tier != kNowhere) ++hit_len;
    double load_s = 0;
    for (size_t i = 0; i < hit_len; ++i) {
      TierStats& s = tiers_[blocks_[req.blocks[i]].tier].stats();
      ++s.hit_blocks;
      s.bytes_read += options_.object_bytes;
      double bw = options_.tiers[blocks_[req.blocks[i]].tier].read_bytes_per_s;
      if (bw > 0) load_s += options_.object_bytes / bw;
    }
    r->hit_blocks += hit_len;

    for (size_t i = 0; i < n; ++i) {
      uint32_t b = req.blocks[i];
      BlockState& s = blocks_[b];
      s.next_use = next_use_[position + i];
      PolicyHint hint{b + uint64_t{1}, s.next_use};
      uint32_t parent = i > 0 ? req.blocks[i - 1] : UINT32_MAX;
      if (s.tier == 0 || (s.tier > 0 && i >= hit_len)) {
        tiers_[s.tier].policy().OnAccessWithHint(s.entry, hint);
      } else if (s.tier > 0) {
        // Hit in a lower tier: read it from there and promote it.
        tiers_[s.tier].Erase(s.entry);
        s.tier = kNowhere;
        Admit(0, b, parent);
      } else {
        Admit(0, b, parent);
      }
    }

    // Cost model: tokens of the prompt, of which the hit prefix is loaded instead of computed.
    double prompt = req.input_tokens ? req.input_tokens : static_cast<double>(n) * options_.block_tokens;
    double hit_tokens = std::min(prompt, static_cast<double>(hit_len) * options_.block_tokens);
    r->prompt_tokens += static_cast<uint64_t>(prompt);
    r->prefill_tokens_avoided += static_cast<uint64_t>(hit_tokens);
    double full = options_.cost.prefill.Seconds(prompt);
    double suffix = full - options_.cost.prefill.Seconds(hit_tokens);
    r->gpu_seconds_without_cache += full;
    r->gpu_seconds_saved += full - suffix;
    ttft->push_back(load_s + suffix);
    ttft_no_cache->push_back(full);
  }

  // Puts block `b` into tier `t`, making room by demoting (or, from the last tier, dropping) a victim.
  // If every resident entry of the tier is pinned, the block is not stored in this tier.
  void Admit(size_t t, uint32_t b, uint32_t parent) {
    SimTier& tier = tiers_[t];
    BlockState& s = blocks_[b];
    if (tier.full()) {
      EntryId victim = tier.policy().Victim([this, &tier, parent](EntryId id) {
        uint32_t block = tier.block_of(id);
        return options_.pin_request_blocks ? blocks_[block].pinned_by != pin_ : block != parent;
      });
      if (victim == kNoEntry) {
        if (t + 1 < tiers_.size()) Admit(t + 1, b, parent);
        return;
      }
      uint32_t vb = tier.block_of(victim);
      tier.Erase(victim);
      ++tier.stats().evictions;
      blocks_[vb].tier = kNowhere;
      blocks_[vb].entry = kNoEntry;
      if (t + 1 < tiers_.size()) Admit(t + 1, vb, trace_.parent[vb]);
    }
    EntryId parent_entry = kNoEntry;
    if (parent != UINT32_MAX && blocks_[parent].tier == static_cast<int8_t>(t)) parent_entry = blocks_[parent].entry;
    s.entry = tier.Insert(b, parent_entry, PolicyHint{b + uint64_t{1}, s.next_use});
    s.tier = static_cast<int8_t>(t);
    ++tier.stats().admissions;
    tier.stats().bytes_written += options_.object_bytes;
  }

  static void Summarise(std::vector<double>* v, double* mean, double* p90) {
    if (v->empty()) return;
    double sum = 0;
    for (double x : *v) sum += x;
    *mean = sum / v->size();
    size_t k = std::min(v->size() - 1, static_cast<size_t>(0.9 * v->size()));
    std::nth_element(v->begin(), v->begin() + k, v->end());
    *p90 = (*v)[k];
  }

  const Trace& trace_;
  const SimOptions& options_;
  std::vector<BlockState> blocks_;
  std::vector<uint64_t> next_use_;
  std::vector<SimTier> tiers_;
  uint32_t pin_ = 0;
};

}  // namespace

std::vector<std::string> SimPolicyNames() { return {"lru", "s3fifo", "prefix-aware", "chain-hd", "chain-reuse", "belady"}; }

std::string DefaultPolicyName() { return std::string(EvictionPolicyKindName(EmbeddedStoreOptions{}.eviction)); }

Result<std::unique_ptr<EvictionPolicy>> MakeSimPolicy(std::string_view name, uint32_t max_entries) {
  if (name == "belady") return NewBeladyPolicy(max_entries);
  if (name == "default") name = EvictionPolicyKindName(EmbeddedStoreOptions{}.eviction);
  auto kind = ParseEvictionPolicyKind(name);
  if (!kind.ok()) return Status::InvalidArgument(std::string(kind.status().message()) + " or belady");
  return NewEvictionPolicy(*kind, max_entries);
}

Result<SimResult> Simulate(const Trace& trace, const SimOptions& options) {
  Replayer replayer(trace, options);
  if (Status s = replayer.Init(); !s.ok()) return s;
  return replayer.Run();
}

}  // namespace tw::sim
