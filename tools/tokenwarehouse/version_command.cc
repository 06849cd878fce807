#include <cstdio>

#include "commands.h"
#include "tw/namespace.h"

namespace tw::cli {

void RegisterVersionCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("version", "Print the version and the formats this build reads and writes");
  cmd->callback([] {
    std::printf("tokenwarehouse 0.1.0\n");
    std::printf("namespace encoding v%u, block keys sha256-128 (default) | xxh3-128\n",
                unsigned{kNamespaceEncodingVersion});
  });
}

}  // namespace tw::cli
