// TW_CHECK: bugs abort with a message; they are never reported as a Status.
#pragma once

#include <cstdio>
#include <cstdlib>

#define TW_CHECK(cond)                                                              \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: TW_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)
