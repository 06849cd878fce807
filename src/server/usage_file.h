// The usage file: token usage per namespace (usage_ledger.h) saved in <data_dir>/usage.json, so
// what a tenant wrote, hit and missed is still counted after a restart, as a bill must be.
//
// Written whole to a temporary file and renamed over the old one, so a crash mid-write leaves the
// previous file. The daemon saves it every 10 s and at shutdown: a crash loses at most the last
// 10 s of counts, never more. Derived figures (GPU-seconds saved) are not stored; they follow from
// the counts and the config.
#pragma once

#include <string>
#include <unordered_map>

#include "server/usage_ledger.h"
#include "tw/block_key.h"
#include "tw/result.h"

namespace tw::server {

using UsageByNamespace = std::unordered_map<NamespaceId, UsageTotals>;

// kIOError if the file cannot be written or renamed into place.
Status SaveUsageFile(const std::string& path, const UsageByNamespace& usage);

// An absent file is an empty map (a first start). kCorruption for a file that does not parse:
// the caller logs it and starts from zero rather than refusing to start.
Result<UsageByNamespace> LoadUsageFile(const std::string& path);

}  // namespace tw::server
