#include "bench_util.h"

#include <unistd.h>

#include <cstdarg>

namespace tw::cli {

void Progress(const char* fmt, ...) {
  static const bool tty = isatty(STDERR_FILENO);
  if (!tty) return;
  va_list ap;
  va_start(ap, fmt);
  std::fprintf(stderr, "\r\033[K");
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fflush(stderr);
}

}  // namespace tw::cli
