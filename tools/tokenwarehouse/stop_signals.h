// The long-running subcommands (`serve`, `route`) stop on SIGINT or SIGTERM, taken by sigwait on the
// main thread.
#pragma once

#include <signal.h>

namespace tw::cli {

// Blocks SIGINT and SIGTERM in the calling thread, and so in every thread it starts afterwards (call
// it before any thread starts): only sigwait sees them, and a signal never interrupts an I/O thread
// mid-request. Ignores SIGPIPE: a peer gone mid-write is an error code, not a death. Returns the set
// to sigwait on.
sigset_t BlockStopSignals();

}  // namespace tw::cli
