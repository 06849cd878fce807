// console_load: a real client putting load on a daemon for the console's browser test
// (console_browser_test.mjs). Over TCP with the client library, as an engine would:
//
//   console_load tw://127.0.0.1:7700 [--token T] [--model M] --salt 1 --blocks 40 --reads 30 --misses 5
//
// registers a namespace (model M, default "console-demo"; as the tenant of token T, or
// anonymously), stores `blocks` blocks as one prefix chain, looks up that chain followed by
// `misses` blocks never stored, reads its last `reads` blocks (the oldest may have been demoted to
// disk: reads promote them) and reads the `misses` keys. Prints one line of what it did; exits 1 on
// any error other than the misses it asked for.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tw/client.h"

namespace {

uint64_t Arg(int argc, char** argv, const char* name, uint64_t fallback) {
  for (int i = 2; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return std::strtoull(argv[i + 1], nullptr, 10);
  }
  return fallback;
}

std::string StrArg(int argc, char** argv, const char* name, const char* fallback) {
  for (int i = 2; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  }
  return fallback;
}

int Fail(const std::string& what, const tw::Status& s) {
  std::fprintf(stderr, "console_load: %s: %s\n", what.c_str(), s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: console_load URL [--token T] [--model M] [--salt N] [--blocks N] [--reads N] [--misses N]\n");
    return 2;
  }
  const uint64_t salt = Arg(argc, argv, "--salt", 1);
  const uint64_t blocks = Arg(argc, argv, "--blocks", 40);
  const uint64_t reads = Arg(argc, argv, "--reads", 30);
  const uint64_t misses = Arg(argc, argv, "--misses", 5);

  tw::ClientOptions options;
  options.io_timeout_ms = 10000;
  options.token = StrArg(argc, argv, "--token", "");  // empty: the anonymous tenant
  auto store = tw::OpenStore(argv[1], options);
  if (!store.ok()) return Fail(std::string("open ") + argv[1], store.status());

  tw::Namespace n;
  n.model_id = StrArg(argc, argv, "--model", "console-demo");
  n.geometry = tw::KvGeometry{4, 4, 128, tw::KvDtype::kF16, 64};  // 512 KiB objects
  auto ns = (*store)->RegisterNamespace(n, {});
  if (!ns.ok()) return Fail("register", ns.status());

  // The stored chain depends on the salt only, so a second run with the same salt re-reads (and
  // re-puts, as duplicates) what the first stored. The misses are a chain no run ever stores.
  auto chain = [&](uint64_t count, uint32_t offset) {
    std::vector<uint32_t> tokens(count * n.geometry.block_tokens);
    for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<uint32_t>(i * 7919 + salt * 104729) ^ offset;
    return n.BlockKeys(tokens);
  };
  std::vector<tw::BlockKey> keys = chain(blocks, 0);
  const std::vector<tw::BlockKey> never = chain(misses, 0x80000000u);
  keys.insert(keys.end(), never.begin(), never.end());

  std::vector<std::byte> kv(n.geometry.ObjectBytes());
  for (uint64_t i = 0; i < blocks; ++i) {
    std::memset(kv.data(), static_cast<int>(i + salt), kv.size());
    tw::Status s = (*store)->Put(*ns, {keys[i], i ? keys[i - 1] : n.Root()}, kv);
    if (!s.ok()) return Fail("put " + std::to_string(i), s);
  }
  // As an engine asks: the whole prompt, of which the stored prefix matches and the rest misses.
  auto found = (*store)->Lookup(*ns, keys);
  if (!found.ok()) return Fail("lookup", found.status());

  uint64_t hits = 0, missed = 0;
  for (uint64_t i = blocks - std::min(reads, blocks); i < blocks; ++i) {
    tw::Status s = (*store)->Get(*ns, keys[i], kv);
    if (!s.ok()) return Fail("get " + std::to_string(i), s);
    ++hits;
  }
  for (uint64_t i = blocks; i < blocks + misses; ++i) {
    tw::Status s = (*store)->Get(*ns, keys[i], kv);
    if (!s.IsNotFound()) return Fail("get of a key never stored " + std::to_string(i), s);
    ++missed;
  }
  std::printf("console_load: %llu puts, lookup matched %zu of %zu, %llu read hits, %llu read misses\n",
              static_cast<unsigned long long>(blocks), found->matched, keys.size(),
              static_cast<unsigned long long>(hits), static_cast<unsigned long long>(missed));
  return 0;
}
