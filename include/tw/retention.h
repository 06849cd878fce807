// Retention classes: how long the warehouse keeps a namespace's objects, in the words prompt-caching
// products sell it ("5m", "1h", "24h", "persistent"), and the rule that turns an operator's cap
// and an engine's request into the retention a namespace gets.
//
// A retention is a duration (or none: persistent, kept until evicted for room) and a mode:
//  - sliding: every hit (a Lookup that matches the object, a Get, Acquire or Pin that serves it)
//    renews the deadline to now + duration, as products' "refreshed each time it is used";
//  - fixed: the deadline is the store time + duration, whatever happens after.
// An expired object is a miss in every tier (DRAM, disk, a cluster peer) and its space is reclaimed
// by eviction. NamespaceOptions (store.h) carries the retention a namespace registered with.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tw/result.h"

namespace tw {

struct Retention {
  uint64_t ttl_ms = 0;   // 0: persistent
  bool sliding = false;  // a hit renews the deadline

  bool persistent() const { return ttl_ms == 0; }
  bool operator==(const Retention&) const = default;
};

// Parses "<class>[ sliding|fixed]". The class is a named one (`5m`, `1h`, `24h`, `persistent`) or a
// duration: a positive integer with a unit `ms`, `s`, `m`, `h` or `d` ("90s", "30m", "7d"). Without
// a mode a class is sliding, as the products that sell these classes renew on use; "persistent" has
// no mode. kInvalidArgument, naming the accepted forms, for anything else.
Result<Retention> ParseRetention(std::string_view text);
// The inverse, in the shortest unit that is exact: "5m sliding", "90s fixed", "persistent".
std::string FormatRetention(const Retention& r);

// The retention a namespace gets when it asks for `asked` under a tenant whose operator set `cap`.
// `asked.ttl_ms == 0` means "the tenant's default", which is the cap. A namespace may ask for less
// than its tenant's cap, never more (the operator caps cost per tenant): a longer or persistent
// duration is cut to the cap's, and sliding is granted only under a sliding cap (renewals can keep
// an object past any fixed deadline).
Retention CapRetention(const Retention& asked, const Retention& cap);

}  // namespace tw
