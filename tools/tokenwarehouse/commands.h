// Each subcommand of `tokenwarehouse` lives in its own file and registers itself here.
#pragma once

#include <CLI/CLI.hpp>

namespace tw::cli {

// Where a subcommand's callback leaves the process exit code (0 unless it sets otherwise).
int& ExitCode();

void RegisterVersionCommand(CLI::App& app);
void RegisterQuickstartCommand(CLI::App& app);
void RegisterBenchDramCommand(CLI::App& bench);
void RegisterSimulateCommand(CLI::App& app);
void RegisterPlanCommand(CLI::App& app);
void RegisterServeCommand(CLI::App& app);
void RegisterRouteCommand(CLI::App& app);
void RegisterStatsCommand(CLI::App& app);
void RegisterBenchNetCommand(CLI::App& bench);
void RegisterFsckCommand(CLI::App& app);
void RegisterBenchDiskCommand(CLI::App& bench);
void RegisterBenchCodecCommand(CLI::App& bench);
// Built only with llama.cpp (TW_HAVE_LLAMA).
void RegisterDemoCommand(CLI::App& app);
void RegisterBenchLlamaCommand(CLI::App& bench);
void RegisterBenchCodecQualityCommand(CLI::App& bench);
void RegisterBenchClusterCommand(CLI::App& bench);
// `stats --cluster etcd://...`: every member and its cluster counters (stats_cluster.cc).
int RunClusterStats(const std::string& etcd_url, bool json);

}  // namespace tw::cli
