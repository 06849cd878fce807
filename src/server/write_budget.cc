#include "server/write_budget.h"

#include <utility>

namespace tw::server {

WriteBudget::WriteBudget(uint64_t total_bytes, uint64_t per_tenant_bytes)
    : total_bytes_(total_bytes), per_tenant_bytes_(per_tenant_bytes) {}

WriteBudget::Charge::Charge(WriteBudget* budget, std::string tenant, uint64_t bytes)
    : budget_(budget), tenant_(std::move(tenant)), bytes_(bytes) {}

WriteBudget::Charge::Charge(Charge&& o) noexcept
    : budget_(std::exchange(o.budget_, nullptr)), tenant_(std::move(o.tenant_)), bytes_(std::exchange(o.bytes_, 0)) {}

WriteBudget::Charge& WriteBudget::Charge::operator=(Charge&& o) noexcept {
  if (this != &o) {
    Release();
    budget_ = std::exchange(o.budget_, nullptr);
    tenant_ = std::move(o.tenant_);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

WriteBudget::Charge::~Charge() { Release(); }

void WriteBudget::Charge::Release() {
  if (budget_ != nullptr) budget_->Give(tenant_, bytes_);
  budget_ = nullptr;
  bytes_ = 0;
}

Result<WriteBudget::Charge> WriteBudget::Take(const std::string& tenant, uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t& mine = per_tenant_[tenant];
  if (mine + bytes > per_tenant_bytes_) {
    if (mine == 0) per_tenant_.erase(tenant);
    return Status::ResourceExhausted("this tenant's unfinished writes already hold " + std::to_string(mine) +
                                     " bytes (limits.max_unfinished_write_bytes_per_tenant " +
                                     std::to_string(per_tenant_bytes_) + "); retry once they finish");
  }
  if (used_ + bytes > total_bytes_) {
    if (mine == 0) per_tenant_.erase(tenant);
    return Status::ResourceExhausted("unfinished writes already hold " + std::to_string(used_) +
                                     " bytes of DRAM (limits.max_unfinished_write_bytes " + std::to_string(total_bytes_) +
                                     "); retry once they finish");
  }
  mine += bytes;
  used_ += bytes;
  return Charge(this, tenant, bytes);
}

void WriteBudget::Give(const std::string& tenant, uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  used_ -= bytes;
  auto it = per_tenant_.find(tenant);
  if (it != per_tenant_.end() && (it->second -= bytes) == 0) per_tenant_.erase(it);
}

uint64_t WriteBudget::used_bytes() {
  std::lock_guard<std::mutex> lock(mu_);
  return used_;
}

uint64_t WriteBudget::tenant_used_bytes(const std::string& tenant) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = per_tenant_.find(tenant);
  return it == per_tenant_.end() ? 0 : it->second;
}

}  // namespace tw::server
