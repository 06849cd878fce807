// WriteBudget: how many bytes of DRAM the daemon's unfinished writes may hold, in all and per tenant.
//
// A PUT reserves its object's pages when its header arrives and fills them as the payload streams
// in; a shared-memory RESERVE holds its pages until COMMIT. Without a bound, a few clients that
// send headers and then stall (or reserve and never commit) hold the whole arena, and every other
// PUT, and every GET that needs a promotion from disk, fails until they time out. So each
// reservation takes a charge first: at most `total_bytes` across the daemon (half the arena by
// default, so reads always have room to promote into) and `per_tenant_bytes` for any one tenant
// (a quarter), the anonymous tenant included. A charge over either is kResourceExhausted, which the
// client sees as a refused PUT (a cache may refuse a write: it costs a recompute later).
//
// Thread-safe. A Charge is released when it is destroyed (with the PUT's slot, or the reservation's
// handle on commit, abort or connection close).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "tw/result.h"

namespace tw::server {

class WriteBudget {
 public:
  WriteBudget(uint64_t total_bytes, uint64_t per_tenant_bytes);

  class Charge {
   public:
    Charge() = default;
    Charge(Charge&& o) noexcept;
    Charge& operator=(Charge&& o) noexcept;
    ~Charge();
    Charge(const Charge&) = delete;
    Charge& operator=(const Charge&) = delete;

   private:
    friend class WriteBudget;
    Charge(WriteBudget* budget, std::string tenant, uint64_t bytes);
    void Release();
    WriteBudget* budget_ = nullptr;
    std::string tenant_;
    uint64_t bytes_ = 0;
  };

  // A charge of `bytes` for `tenant`, or kResourceExhausted naming the limit it would exceed.
  Result<Charge> Take(const std::string& tenant, uint64_t bytes);

  uint64_t used_bytes();
  uint64_t tenant_used_bytes(const std::string& tenant);

 private:
  void Give(const std::string& tenant, uint64_t bytes);

  const uint64_t total_bytes_;
  const uint64_t per_tenant_bytes_;
  std::mutex mu_;
  uint64_t used_ = 0;                                   // GUARDED_BY(mu_)
  std::unordered_map<std::string, uint64_t> per_tenant_;  // GUARDED_BY(mu_); absent = 0
};

}  // namespace tw::server
