// The POSIX env's gather/scatter ops (IoOp::pieces): one device I/O over several buffers. CTest runs
// this binary twice, through io_uring and with TW_NO_IO_URING (the preadv/pwritev fallback).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "common/env/env.h"

namespace tw {
namespace {

std::string TestFile(const std::string& name) {
  // Under the working directory (the build tree): /tmp may be tmpfs, which refuses O_DIRECT.
  const std::string dir = std::filesystem::current_path().string() + "/env_test_tmp." + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  return dir + "/" + name;
}

void Fill(const AlignedBuffer& b, uint8_t seed) {
  for (uint64_t i = 0; i < b.size(); ++i) b.data()[i] = std::byte(static_cast<uint8_t>(seed + i * 7 + i / 4096));
}

TEST(PosixEnv, GatherWriteAndScatterReadMoveThePiecesInOrder) {
  const std::string path = TestFile("gather.dat");
  FileOptions fo;
  fo.create = true;
  auto f = Env::Posix()->Open(path, fo);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_TRUE((*f)->Preallocate(1 << 20).ok());
  // Three buffers written as one op at 64 KiB: 4 KiB (a header), 40 KiB (a payload), 4 KiB (a tail).
  AlignedBuffer a(4096), b(40960), c(4096);
  Fill(a, 1);
  Fill(b, 2);
  Fill(c, 3);
  std::span<std::byte> out[] = {a.span(), b.span(), c.span()};
  IoOp w{IoOp::Kind::kWrite, 65536, nullptr, a.size() + b.size() + c.size(), out};
  ASSERT_TRUE((*f)->Submit({&w, 1}, 4).ok());

  // Read back plainly: the file holds a, b, c back to back.
  AlignedBuffer whole(w.length);
  ASSERT_TRUE((*f)->ReadAt(65536, whole.span()).ok());
  EXPECT_EQ(std::memcmp(whole.data(), a.data(), a.size()), 0);
  EXPECT_EQ(std::memcmp(whole.data() + a.size(), b.data(), b.size()), 0);
  EXPECT_EQ(std::memcmp(whole.data() + a.size() + b.size(), c.data(), c.size()), 0);

  // Scatter the same bytes into buffers cut differently (24 KiB + 24 KiB), through Stream.
  AlignedBuffer x(24576), y(24576);
  std::span<std::byte> in[] = {x.span(), y.span()};
  bool pulled = false;
  size_t completed = 0;
  Status s = (*f)->Stream(2, [&](IoOp* op) {
    if (pulled) return false;
    pulled = true;
    *op = IoOp{IoOp::Kind::kRead, 65536, nullptr, x.size() + y.size(), in};
    return true;
  }, [&](size_t) { ++completed; });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(completed, 1u);
  EXPECT_EQ(std::memcmp(x.data(), whole.data(), x.size()), 0);
  EXPECT_EQ(std::memcmp(y.data(), whole.data() + x.size(), y.size()), 0);
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

TEST(PosixEnv, GatherReadPastEndOfFileFails) {
  const std::string path = TestFile("short.dat");
  FileOptions fo;
  fo.create = true;
  auto f = Env::Posix()->Open(path, fo);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Preallocate(8192).ok());
  AlignedBuffer x(8192), y(8192);
  std::span<std::byte> in[] = {x.span(), y.span()};
  IoOp r{IoOp::Kind::kRead, 0, nullptr, x.size() + y.size(), in};
  EXPECT_FALSE((*f)->Submit({&r, 1}, 1).ok());  // only half of it exists: never reported as done
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

}  // namespace
}  // namespace tw
