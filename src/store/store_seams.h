// The seams through which tests (and the daemon's fault-injection tests) control an EmbeddedStore
// from outside: its time source and its file I/O. Internal on purpose: Clock and Env are not part
// of the installed API (include/tw/), so options a user fills never name an internal type. Should a
// user need to run the store over their own I/O, Env becomes public whole, as leveldb's is.
#pragma once

#include <memory>

#include "tw/embedded_store.h"
#include "tw/result.h"

namespace tw {

class Clock;  // common/clock.h
class Env;    // common/env/env.h

struct StoreSeams {
  Clock* clock = nullptr;    // TTLs and leases; nullptr: the steady clock. Not owned.
  // The wall clock deadlines are written in on disk (Unix ms); nullptr: the system's. Not owned.
  // Tests of restarts move it with `clock`, as real time moves both.
  Clock* wall_clock = nullptr;
  Env* disk_env = nullptr;   // the disk tier's files; nullptr: POSIX. Not owned.
};

// EmbeddedStore::Open with seams; Open(options) is OpenEmbeddedStore(options, {}).
Result<std::unique_ptr<EmbeddedStore>> OpenEmbeddedStore(const EmbeddedStoreOptions& options, const StoreSeams& seams);

}  // namespace tw
