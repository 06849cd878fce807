// `tokenwarehouse fsck DIR [--repair] [--json]`: verify every record of a disk tier directory.
//
// Exit codes follow fsck(8): 0 clean, 1 problems found and all repaired, 4 problems left,
// 8 operational error (the directory cannot be read).
#include <cstdio>

#include "commands.h"
#include "store/tier/disk_fsck.h"

namespace tw::cli {
namespace {

struct FsckCliOptions {
  std::string dir;
  bool repair = false;
  bool json = false;
  bool verbose = false;
};

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out;
}

int Run(const FsckCliOptions& opt) {
  FsckOptions o;
  o.repair = opt.repair;
  Result<FsckReport> r = Fsck(opt.dir, o);
  if (!r.ok()) {
    std::fprintf(stderr, "fsck: %s\n", r.status().ToString().c_str());
    return 8;
  }
  bool left = false;
  for (const FsckRegionReport& g : r->region_reports) {
    if ((!g.header_ok || g.bad) && !g.repaired) left = true;
  }
  const int code = r->clean() ? 0 : left ? 4 : 1;
  if (opt.json) {
    std::printf("{\"dir\": \"%s\", \"regions\": %llu, \"sealed_regions\": %llu, \"bad_regions\": %llu, "
                "\"repaired_regions\": %llu, \"records\": %llu, \"good_records\": %llu, \"bad_records\": %llu, "
                "\"payload_bytes\": %llu, \"clean\": %s, \"problems\": [",
                JsonEscape(opt.dir).c_str(), (unsigned long long)r->regions, (unsigned long long)r->sealed_regions,
                (unsigned long long)r->bad_regions, (unsigned long long)r->repaired_regions,
                (unsigned long long)r->records, (unsigned long long)r->good_records, (unsigned long long)r->bad_records,
                (unsigned long long)r->payload_bytes, r->clean() ? "true" : "false");
    bool first = true;
    for (const FsckRegionReport& g : r->region_reports) {
      for (const std::string& p : g.problems) {
        std::printf("%s{\"region\": \"%s\", \"problem\": \"%s\", \"repaired\": %s}", first ? "" : ", ", g.name.c_str(),
                    JsonEscape(p).c_str(), g.repaired ? "true" : "false");
        first = false;
      }
    }
    std::printf("]}\n");
    return code;
  }
  bool header = false;
  for (const FsckRegionReport& g : r->region_reports) {
    const char* state = !g.header_ok ? "BAD" : g.sealed ? "sealed" : "open";
    const bool show = opt.verbose || !g.header_ok || g.bad || !g.sealed;
    if (show && !header) {
      std::printf("%-28s %-8s %9s %9s %6s %12s  %s\n", "region", "state", "records", "good", "bad", "payload MiB", "action");
      header = true;
    }
    if (show) {
      std::printf("%-28s %-8s %9llu %9llu %6llu %12.1f  %s\n", g.name.c_str(), state, (unsigned long long)g.records,
                  (unsigned long long)g.good, (unsigned long long)g.bad, g.payload_bytes / 1048576.0,
                  g.repaired ? "repaired" : !g.skipped.empty() ? g.skipped.c_str() : "");
    }
    for (const std::string& p : g.problems) std::printf("    %s\n", p.c_str());
  }
  std::printf("%llu regions (%llu sealed), %llu records: %llu good, %llu bad; %.1f MiB of payload. %s\n",
              (unsigned long long)r->regions, (unsigned long long)r->sealed_regions, (unsigned long long)r->records,
              (unsigned long long)r->good_records, (unsigned long long)r->bad_records, r->payload_bytes / 1048576.0,
              r->clean() ? "Clean." : code == 1 ? "All problems repaired." : opt.repair ? "Problems left." : "Run with --repair to drop bad records.");
  return code;
}

}  // namespace

void RegisterFsckCommand(CLI::App& app) {
  auto opt = std::make_shared<FsckCliOptions>();
  CLI::App* cmd = app.add_subcommand("fsck", "Verify every record of a disk tier directory (and repair with --repair)");
  cmd->add_option("dir", opt->dir, "The disk tier directory")->required()->check(CLI::ExistingDirectory);
  cmd->add_flag("--repair", opt->repair, "Drop bad records (re-seal their regions); delete unreadable regions");
  cmd->add_flag("--json", opt->json, "Print one JSON object instead of a table");
  cmd->add_flag("-v,--verbose", opt->verbose, "List every region, not only those with problems");
  cmd->callback([opt] { ExitCode() = Run(*opt); });
}

}  // namespace tw::cli
