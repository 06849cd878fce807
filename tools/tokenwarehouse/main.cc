// tokenwarehouse: one binary, one subcommand per job. Run `tokenwarehouse --help`.
#include <CLI/CLI.hpp>

#include "commands.h"

namespace tw::cli {
int& ExitCode() {
  static int code = 0;
  return code;
}
}  // namespace tw::cli

int main(int argc, char** argv) {
  CLI::App app{"Token Warehouse: a persistent, shared, tiered KV-cache warehouse for LLM inference"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tokenwarehouse 0.1.0");
  tw::cli::RegisterVersionCommand(app);
  tw::cli::RegisterQuickstartCommand(app);
  tw::cli::RegisterFsckCommand(app);
  tw::cli::RegisterSimulateCommand(app);
  tw::cli::RegisterPlanCommand(app);
  tw::cli::RegisterServeCommand(app);
  tw::cli::RegisterRouteCommand(app);
  tw::cli::RegisterStatsCommand(app);
  CLI::App* bench = app.add_subcommand("bench", "Measure a component against its physical ceiling");
  bench->require_subcommand(1);
  tw::cli::RegisterBenchDramCommand(*bench);
  tw::cli::RegisterBenchNetCommand(*bench);
  tw::cli::RegisterBenchDiskCommand(*bench);
  tw::cli::RegisterBenchCodecCommand(*bench);
#ifdef TW_HAVE_LLAMA
  tw::cli::RegisterDemoCommand(app);
  tw::cli::RegisterBenchLlamaCommand(*bench);
  tw::cli::RegisterBenchCodecQualityCommand(*bench);
#endif
  tw::cli::RegisterBenchClusterCommand(*bench);
  CLI11_PARSE(app, argc, argv);
  return tw::cli::ExitCode();
}
