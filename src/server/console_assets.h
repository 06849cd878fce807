// The operator's console (src/server/console/: index.html, console.js, console.css), compiled
// into the binary by cmake/EmbedFiles.cmake so the daemon serves it with no files to install.
#pragma once

#include <string_view>

namespace tw::server {

struct ConsoleAsset {
  std::string_view name;          // file name under src/server/console/, e.g. "console.js"
  std::string_view content_type;  // for the HTTP response
  std::string_view bytes;         // static storage: valid for the life of the process
};

// The file called `name`, or nullptr. Thread-safe (immutable tables).
const ConsoleAsset* FindConsoleAsset(std::string_view name);

}  // namespace tw::server
