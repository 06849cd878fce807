// `tokenwarehouse demo` (`make demo`): an agent-style session on llama.cpp, with and without the
// warehouse.
//
// Every turn's prompt is a long system prompt and tool schema (shared by all turns), the
// conversation so far, and the new user message. Per turn it prints the time to first token:
//   no warehouse   the engine prefills the whole prompt (a stateless server, or a cache miss)
//   warehouse      the engine restores the stored prefix and prefills only the rest
//   after restart  the engine process's state is gone (model reloaded, new context); the KV comes
//                  back from the warehouse. Until the disk tier lands the warehouse here is the
//                  in-process DRAM tier that outlives the engine, as the daemon will.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "bench_util.h"
#include "commands.h"
#include "engines/llama/adapter.h"
#include "engines/llama/random_model.h"
#include "engines/llama/runtime.h"
#include "tw/embedded_store.h"

namespace tw::cli {
namespace {

using namespace tw::llama;

struct DemoOptions {
  std::string model = "tinyllama";
  int turns = 4;
  uint32_t block_tokens = 64;
  int threads = 2;
  bool after_restart = false;  // internal: run as the restarted engine process
  std::string store_dir;       // internal: the warehouse directory the restarted engine opens
};

std::string SystemPrompt() {
  std::string s =
      "You are Atlas, an operations agent for a fleet of inference servers. You answer precisely, you "
      "never invent numbers, and you call tools whenever a question needs live data. Follow the runbook: "
      "check health before acting, prefer draining a node to restarting it, and report what you changed.\n\n"
      "# Tools\nYou may call the following tools. Reply with a JSON object {\"tool\": name, \"arguments\": {...}}.\n";
  const char* tools[] = {"get_node_health", "list_nodes", "drain_node", "restart_engine", "get_metrics",
                         "set_ttl", "pin_prefix", "evict_namespace", "get_capacity", "open_ticket"};
  for (const char* t : tools) {
    s += std::string("{\"name\": \"") + t +
         "\", \"description\": \"Operates on the warehouse fleet: " + t +
         ". Returns a JSON document with a status field and the data requested.\", \"parameters\": {\"type\": "
         "\"object\", \"properties\": {\"node\": {\"type\": \"string\", \"description\": \"node name, e.g. "
         "wh-node-07\"}, \"namespace\": {\"type\": \"string\"}, \"window_s\": {\"type\": \"integer\", \"minimum\": 1}, "
         "\"dry_run\": {\"type\": \"boolean\", \"default\": true}}, \"required\": [\"node\"]}}\n";
  }
  return s;
}

const char* kUser[] = {
    "Node wh-node-07 reports high p99 latency. What is going on?",
    "Drain it, then tell me how much capacity the fleet has left.",
    "Pin the system prompt prefix of the support namespace for an hour.",
    "Summarize everything you changed today in three bullet points.",
    "Open a ticket for the latency regression and assign it to storage.",
    "Which namespaces use the most DRAM right now?",
};
const char* kAssistant[] = {
    "{\"tool\": \"get_node_health\", \"arguments\": {\"node\": \"wh-node-07\"}} -> disk queue depth 240, "
    "p99 read 48 ms; the NVMe device is saturated by a compaction.",
    "{\"tool\": \"drain_node\", \"arguments\": {\"node\": \"wh-node-07\", \"dry_run\": false}} -> drained. "
    "{\"tool\": \"get_capacity\"} -> 61% of DRAM and 44% of disk in use across 11 nodes.",
    "{\"tool\": \"pin_prefix\", \"arguments\": {\"namespace\": \"support\", \"window_s\": 3600}} -> pinned 12 blocks.",
    "- drained wh-node-07 (saturated NVMe)\n- checked fleet capacity\n- pinned the support system prompt for 1 h",
    "{\"tool\": \"open_ticket\"} -> STOR-1182 opened.",
    "{\"tool\": \"get_metrics\"} -> support 38%, search 21%, code 17%.",
};

struct Engine {
  ModelPtr model;
  ContextPtr ctx;
  std::unique_ptr<KvAdapter> adapter;
};

Result<Engine> StartEngine(const std::string& path, Store* store, const DemoOptions& opt) {
  Engine e;
  TW_ASSIGN_OR_RETURN(e.model, LoadModel(path));
  ContextOptions co;
  co.n_ctx = 8192;
  co.n_batch = 512;
  co.n_threads = opt.threads;
  co.flash_attn = false;
  TW_ASSIGN_OR_RETURN(e.ctx, NewContext(e.model.get(), co));
  AdapterOptions ao;
  ao.tenant = "demo";
  ao.block_tokens = opt.block_tokens;
  TW_ASSIGN_OR_RETURN(e.adapter, KvAdapter::Open(e.ctx.get(), store, ao));
  return e;
}

// In dependency order: the adapter uses the context, the context the model.
void StopEngine(Engine& e) {
  e.adapter.reset();
  e.ctx.reset();
  e.model.reset();
}

Result<double> TtftWithout(Engine& e, const std::vector<llama_token>& tokens) {
  llama_memory_clear(llama_get_memory(e.ctx.get()), true);
  const uint64_t t0 = MonotonicNanos();
  TW_RETURN_IF_ERROR(Decode(e.ctx.get(), 0, tokens, 0));
  return static_cast<double>(MonotonicNanos() - t0) / 1e6;
}

Result<std::vector<std::vector<llama_token>>> BuildPrompts(const llama_model* model, int turns) {
  std::string history;
  std::vector<std::vector<llama_token>> prompts;
  for (int t = 0; t < turns; ++t) {
    history += "\nUser: " + std::string(kUser[t]) + "\nAssistant:";
    TW_ASSIGN_OR_RETURN(std::vector<llama_token> p, Tokenize(model, SystemPrompt() + history));
    prompts.push_back(std::move(p));
    history += " " + std::string(kAssistant[t]);
  }
  return prompts;
}

struct AfterRestart {
  double start_ms = 0;  // model load + context + adapter
  std::vector<PrefillStats> turns;
};

// A new engine on `store` runs every turn again.
Result<AfterRestart> RunRestartedEngine(const std::string& path, Store* store, const DemoOptions& opt, int turns) {
  AfterRestart out;
  const uint64_t r0 = MonotonicNanos();
  TW_ASSIGN_OR_RETURN(Engine engine, StartEngine(path, store, opt));
  out.start_ms = static_cast<double>(MonotonicNanos() - r0) / 1e6;
  TW_ASSIGN_OR_RETURN(auto prompts, BuildPrompts(engine.model.get(), turns));
  for (int t = 0; t < turns; ++t) {
    Progress("demo: turn %d/%d after the restart ...", t + 1, turns);
    llama_memory_clear(llama_get_memory(engine.ctx.get()), true);
    TW_ASSIGN_OR_RETURN(PrefillStats st, engine.adapter->Prefill(0, prompts[t]));
    out.turns.push_back(st);
  }
  StopEngine(engine);
  return out;
}

// The warehouse of the demo: DRAM, and a disk tier in `dir` that every block is written through
// to, so the restarted engine (a new process) finds the whole session there.
EmbeddedStoreOptions DemoStoreOptions(const std::string& dir) {
  EmbeddedStoreOptions so;
  so.dram_capacity_bytes = 2ull << 30;
  so.disk_dir = dir;
  so.disk_admission = DiskAdmission::kWriteThrough;
  return so;
}

// The child process of a disk-backed demo: a restarted engine over the warehouse directory. Prints
// "start_ms X" and one "turn T TTFT_MS RESTORED" line per turn for the parent.
Status RunChild(const DemoOptions& opt) {
  RandomModelSpec spec = opt.model == "tiny" ? RandomModelSpec::Tiny() : RandomModelSpec::TinyLlama();
  TW_ASSIGN_OR_RETURN(std::string path, CachedRandomModel(spec));
  EmbeddedStoreOptions so = DemoStoreOptions(opt.store_dir);
  TW_ASSIGN_OR_RETURN(std::unique_ptr<EmbeddedStore> store, EmbeddedStore::Open(so));
  TW_ASSIGN_OR_RETURN(AfterRestart r, RunRestartedEngine(path, store.get(), opt, opt.turns));
  std::printf("start_ms %.3f\n", r.start_ms);
  for (size_t t = 0; t < r.turns.size(); ++t) {
    std::printf("turn %zu %.3f %zu\n", t, r.turns[t].ttft_ms, r.turns[t].restored_tokens);
  }
  return Status::Ok();
}

// Runs this binary again as a new engine process over the warehouse directory.
Result<AfterRestart> RunChildProcess(const DemoOptions& opt, int turns) {
  // Resolved here: inside popen's shell, /proc/self/exe would be the shell.
  std::error_code ec;
  const std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  if (ec) return Status::Internal("cannot find this program's path: " + ec.message());
  const std::string cmd = "'" + self + "' demo --after-restart --store-dir '" + opt.store_dir + "' --model " +
                          opt.model + " --turns " + std::to_string(turns) + " --block-tokens " +
                          std::to_string(opt.block_tokens) + " --threads " + std::to_string(opt.threads);
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return Status::Internal("cannot start the restarted engine process");
  AfterRestart out;
  char line[256];
  while (std::fgets(line, sizeof(line), p)) {
    double ms;
    size_t t, restored;
    if (std::sscanf(line, "start_ms %lf", &ms) == 1) out.start_ms = ms;
    if (std::sscanf(line, "turn %zu %lf %zu", &t, &ms, &restored) == 3) {
      PrefillStats st;
      st.ttft_ms = ms;
      st.restored_tokens = restored;
      out.turns.push_back(st);
    }
  }
  if (::pclose(p) != 0 || static_cast<int>(out.turns.size()) != turns) {
    return Status::Internal("the restarted engine process failed");
  }
  return out;
}

Status RunDemo(DemoOptions opt) {
  if (opt.after_restart) return RunChild(opt);
  RandomModelSpec spec = opt.model == "tiny" ? RandomModelSpec::Tiny() : RandomModelSpec::TinyLlama();
  Progress("demo: preparing model %s ...", spec.name.c_str());
  TW_ASSIGN_OR_RETURN(std::string path, CachedRandomModel(spec));
  // The restart is a real one: a new process over the warehouse's directory.
  opt.store_dir = CacheDir() + "/demo-warehouse-" + std::to_string(::getpid());
  EmbeddedStoreOptions so = DemoStoreOptions(opt.store_dir);
  TW_ASSIGN_OR_RETURN(std::unique_ptr<EmbeddedStore> store, EmbeddedStore::Open(so));
  TW_ASSIGN_OR_RETURN(Engine engine, StartEngine(path, store.get(), opt));

  const int turns = std::min<int>(opt.turns, static_cast<int>(std::size(kUser)));
  TW_ASSIGN_OR_RETURN(auto prompts, BuildPrompts(engine.model.get(), turns));
  std::printf("Token Warehouse demo: an agent session on llama.cpp (%s, random weights, CPU, %d threads)\n",
              spec.FileName().c_str(), opt.threads);
  TW_ASSIGN_OR_RETURN(std::vector<llama_token> sys_tokens, Tokenize(engine.model.get(), SystemPrompt()));
  std::printf("system prompt + tool schema: %zu tokens, shared by every turn; warehouse blocks of %u tokens\n\n",
              sys_tokens.size(), opt.block_tokens);

  struct Row {
    size_t tokens;
    double without, with;
    size_t restored;
  };
  std::vector<Row> rows;
  for (int t = 0; t < turns; ++t) {
    const auto& p = prompts[t];
    Progress("demo: turn %d/%d, prefill without the warehouse ...", t + 1, turns);
    TW_ASSIGN_OR_RETURN(double without, TtftWithout(engine, p));
    Progress("demo: turn %d/%d, prefill through the warehouse ...", t + 1, turns);
    llama_memory_clear(llama_get_memory(engine.ctx.get()), true);
    TW_ASSIGN_OR_RETURN(PrefillStats st, engine.adapter->Prefill(0, p));
    rows.push_back({p.size(), without, st.ttft_ms, st.restored_tokens});
  }

  Progress("demo: restarting the engine ...");
  StopEngine(engine);
  store.reset();  // the warehouse closes too: only its directory carries the KV over
  TW_ASSIGN_OR_RETURN(AfterRestart after, RunChildProcess(opt, turns));
  std::error_code ec;
  std::filesystem::remove_all(opt.store_dir, ec);
  Progress("%s", "");

  std::printf("%5s %8s %18s %24s %28s\n", "turn", "prompt", "no warehouse (ms)", "warehouse (ms, restored)",
              "after restart (ms, restored)");
  for (int t = 0; t < turns; ++t) {
    const Row& r = rows[t];
    std::printf("%5d %8zu %18.0f %14.0f (%5zu tok) %18.0f (%5zu tok)\n", t + 1, r.tokens, r.without, r.with,
                r.restored, after.turns[t].ttft_ms, after.turns[t].restored_tokens);
  }
  std::printf("\nTurn 1 misses (nothing stored yet) and stores the system prompt; later turns restore it and the\n"
              "previous turns. After the restart every turn restores from the warehouse\n"
              "(a new engine process, KV from the warehouse's disk tier; engine start %.0f ms).\n",
              after.start_ms);
  return Status::Ok();
}

}  // namespace

void RegisterDemoCommand(CLI::App& app) {
  auto opt = std::make_shared<DemoOptions>();
  CLI::App* cmd = app.add_subcommand("demo", "An agent session on llama.cpp: TTFT without and with the warehouse");
  cmd->add_option("--model", opt->model, "tinyllama (TinyLlama-1.1B shape) or tiny")
      ->capture_default_str()->check(CLI::IsMember({"tinyllama", "tiny"}));
  cmd->add_option("--turns", opt->turns, "Conversation turns")->capture_default_str()->check(CLI::Range(1, 6));
  cmd->add_option("--block-tokens", opt->block_tokens, "Tokens per warehouse block")->capture_default_str()->check(CLI::Range(16, 4096));
  cmd->add_option("--threads", opt->threads, "llama.cpp threads")->capture_default_str()->check(CLI::Range(1, 256));
  cmd->add_flag("--after-restart", opt->after_restart)->group("");  // internal
  cmd->add_option("--store-dir", opt->store_dir)->group("");
  cmd->callback([opt] {
    Status s = RunDemo(*opt);
    if (!s.ok()) {
      std::fprintf(stderr, "demo: %s\n", s.ToString().c_str());
      ExitCode() = 1;
    }
  });
}

}  // namespace tw::cli
