// Logging: thin wrappers over spdlog so the rest of the code names one facility.
// Misses are never logged; failures that change behaviour (a tier stops admitting) are warnings.
#pragma once

#include <spdlog/spdlog.h>

#define TW_LOG_DEBUG(...) SPDLOG_DEBUG(__VA_ARGS__)
#define TW_LOG_INFO(...) SPDLOG_INFO(__VA_ARGS__)
#define TW_LOG_WARN(...) SPDLOG_WARN(__VA_ARGS__)
#define TW_LOG_ERROR(...) SPDLOG_ERROR(__VA_ARGS__)
