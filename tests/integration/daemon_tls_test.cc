// TLS on the daemon's TCP listener: a real daemon with a certificate made by the openssl tool.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <random>

#include "daemon_fixture.h"
#include "tw/client.h"

namespace tw {
namespace {

using testing::DaemonProcess;

// A self-signed certificate for 127.0.0.1 and localhost in `dir`.
void MakeCertificate(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost "
                          "-addext subjectAltName=IP:127.0.0.1,DNS:localhost -days 2 -keyout " +
                          (dir / "key.pem").string() + " -out " + (dir / "cert.pem").string() + " 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "the openssl tool is needed (Debian package openssl): " << cmd;
}

class DaemonTls : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("tw-tls-" + std::to_string(getpid()));
    MakeCertificate(dir_);
    daemon_ = std::make_unique<DaemonProcess>("tls:\n  cert_file: " + cert() + "\n  key_file: " + (dir_ / "key.pem").string() + "\n");
    ASSERT_TRUE(daemon_->ready()) << daemon_->log();
  }
  void TearDown() override {
    daemon_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string cert() const { return (dir_ / "cert.pem").string(); }
  std::string tls_url(const std::string& host = "127.0.0.1") const { return "tws://" + host + ":" + std::to_string(daemon_->tcp_port()); }
  Result<std::unique_ptr<Store>> Open(const std::string& url, const std::string& ca) const {
    ClientOptions o;
    o.tls_ca_file = ca;
    o.io_timeout_ms = 10000;
    return OpenStore(url, o);
  }

  std::filesystem::path dir_;
  std::unique_ptr<DaemonProcess> daemon_;
};

TEST_F(DaemonTls, ObjectsRoundTripOverTls) {
  // 4 layers x 8 heads x 128 dims x f16 x 256 tokens: 4 MiB objects, many TLS records each.
  Namespace n;
  n.model_id = "tls-model";
  n.geometry = KvGeometry{4, 8, 128, KvDtype::kF16, 256};
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    Result<std::unique_ptr<Store>> store = Open(tls_url(host), cert());
    ASSERT_TRUE(store.ok()) << store.status().ToString() << "\n" << daemon_->log();
    NamespaceId ns = (*store)->RegisterNamespace(n, {}).value();
    std::vector<uint32_t> tokens(3 * n.geometry.block_tokens);
    for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<uint32_t>(i * 7 + host.size());
    std::vector<BlockKey> keys = n.BlockKeys(tokens);
    std::vector<std::vector<std::byte>> data;
    for (size_t i = 0; i < keys.size(); ++i) {
      std::vector<std::byte> v(n.geometry.ObjectBytes());
      std::mt19937_64 rng(keys[i].Prefix64());
      for (auto& b : v) b = std::byte(rng());
      ASSERT_TRUE((*store)->Put(ns, {keys[i], i ? keys[i - 1] : n.Root()}, v).ok());
      data.push_back(std::move(v));
    }
    EXPECT_EQ((*store)->Lookup(ns, keys)->matched, keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
      std::vector<std::byte> out(n.geometry.ObjectBytes());
      ASSERT_TRUE((*store)->Get(ns, keys[i], out, KvSlice::All()).ok());
      EXPECT_TRUE(out == data[i]) << "object " << i << " over " << host;
    }
  }
  // Events flow over TLS too.
  ClientOptions o;
  o.tls_ca_file = cert();
  Result<std::unique_ptr<EventStream>> events = Subscribe(tls_url(), o);
  ASSERT_TRUE(events.ok()) << events.status().ToString();
  EXPECT_EQ((*events)->Next(50).status().code(), StatusCode::kDeadlineExceeded);
}

TEST_F(DaemonTls, UnverifiedOrPlainClientsAreRefusedAndTheDaemonGoesOn) {
  // No trusted certificate: the self-signed one does not verify against the system store.
  Result<std::unique_ptr<Store>> untrusted = Open(tls_url(), "");
  EXPECT_EQ(untrusted.status().code(), StatusCode::kUnauthenticated) << untrusted.status().ToString();
  // The certificate names 127.0.0.1 and localhost only.
  std::filesystem::path other = dir_ / "other";
  MakeCertificate(other);
  EXPECT_EQ(Open(tls_url(), (other / "cert.pem").string()).status().code(), StatusCode::kUnauthenticated);
  // A plain client on the TLS port gets nowhere, and a TLS client on a missing CA file a clear error.
  EXPECT_FALSE(Open("tw://127.0.0.1:" + std::to_string(daemon_->tcp_port()), "").ok());
  EXPECT_EQ(Open(tls_url(), (dir_ / "missing.pem").string()).status().code(), StatusCode::kInvalidArgument);
  // After all of that, a proper client is served.
  Result<std::unique_ptr<Store>> store = Open(tls_url(), cert());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->Stats()->puts, 0u);
}

TEST(DaemonTlsConfig, BadCertificateStopsStartupWithAClearError) {
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("tw-tls-bad-" + std::to_string(getpid()));
  MakeCertificate(dir);
  DaemonProcess wrong_key("tls:\n  cert_file: " + (dir / "cert.pem").string() + "\n  key_file: " + (dir / "cert.pem").string() + "\n");
  EXPECT_FALSE(wrong_key.ready());
  EXPECT_NE(wrong_key.Wait(), 0);
  EXPECT_NE(wrong_key.log().find("tls.key_file"), std::string::npos) << wrong_key.log();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace tw
