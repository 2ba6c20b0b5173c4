// TLS against a real TLS peer: `openssl s_server -www` with a throwaway CA made at test time by
// tests/fakes/testca/make_testca.sh (no key material is committed).

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "daemon/transport/transport.h"
#include "tests/unit/daemon/transport/transport_test_support.h"

namespace omnigate::transport::testing {
namespace {

namespace fs = std::filesystem;
using channels::HttpVersion;

fs::path testCaScript() {
  // Located from this source file, so the test runs from any build directory.
  return fs::path(__FILE__).parent_path() / ".." / ".." / ".." / "fakes" / "testca" /
         "make_testca.sh";
}

class TlsPeer {
 public:
  TlsPeer() {
    std::string pattern = (fs::temp_directory_path() / "omnigate-tls-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) return;
    dir_ = pattern;
    std::string command = "bash '" + testCaScript().string() + "' '" + dir_.string() + "'";
    if (std::system(command.c_str()) != 0) return;
    server_ = std::make_unique<ChildProcess>(std::vector<std::string>{
        "openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", (dir_ / "server.pem").string(),
        "-key", (dir_ / "server.key").string(), "-www"});
    while (auto line = server_->readLine(10s)) {
      // "ACCEPT 127.0.0.1:43817" once it listens.
      if (line->rfind("ACCEPT ", 0) == 0) {
        port_ = line->substr(line->rfind(':') + 1);
        break;
      }
    }
  }

  ~TlsPeer() {
    server_.reset();
    std::error_code ignored;
    if (!dir_.empty()) fs::remove_all(dir_, ignored);
  }

  bool ready() const { return !port_.empty(); }
  std::string url(const std::string& host = "127.0.0.1") const {
    return "https://" + host + ":" + port_ + "/";
  }
  std::string caFile() const { return (dir_ / "ca.pem").string(); }

 private:
  fs::path dir_;
  std::unique_ptr<ChildProcess> server_;
  std::string port_;
};

class CurlTransportTls : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("command -v openssl >/dev/null 2>&1") != 0) {
      GTEST_SKIP() << "openssl command not available";
    }
    peer_ = std::make_unique<TlsPeer>();
    ASSERT_TRUE(peer_->ready()) << "openssl s_server did not start";
  }

  std::unique_ptr<TlsPeer> peer_;
};

TEST_F(CurlTransportTls, UntrustedCertificateIsATlsFailure) {
  Loop loop;
  auto transport = makeCurlTransport(loop.io, {});
  Outcome outcome = runOne(loop, *transport, httpRequest(peer_->url()));
  const TransportFailure* failure = failureOf(outcome);
  ASSERT_NE(failure, nullptr) << describe(outcome);
  EXPECT_EQ(failure->kind, TransportErrorKind::Tls) << failure->detail;
  EXPECT_FALSE(failure->request_may_have_been_sent);
}

TEST_F(CurlTransportTls, CaFileMakesThePeerTrusted) {
  Loop loop;
  TransportOptions options;
  options.ca_file = peer_->caFile();
  auto transport = makeCurlTransport(loop.io, options);
  for (const char* host : {"127.0.0.1", "localhost"}) {
    Outcome outcome = runOne(loop, *transport, httpRequest(peer_->url(host)));
    const TransportReply* reply = replyOf(outcome);
    ASSERT_NE(reply, nullptr) << host << ": " << describe(outcome);
    EXPECT_EQ(reply->status, 200);
    EXPECT_EQ(reply->http_version, "1.0");  // what s_server -www answers with
    EXPECT_FALSE(reply->body.empty());
  }
}

TEST_F(CurlTransportTls, MissingCaFileIsATlsFailure) {
  Loop loop;
  TransportOptions options;
  options.ca_file = peer_->caFile() + ".missing";
  auto transport = makeCurlTransport(loop.io, options);
  Outcome outcome = runOne(loop, *transport, httpRequest(peer_->url()));
  const TransportFailure* failure = failureOf(outcome);
  ASSERT_NE(failure, nullptr) << describe(outcome);
  EXPECT_EQ(failure->kind, TransportErrorKind::Tls) << failure->detail;
}

TEST_F(CurlTransportTls, Http2RequiredFailsWhenThePeerOnlySpeaksHttp1) {
  Loop loop;
  TransportOptions options;
  options.ca_file = peer_->caFile();
  auto transport = makeCurlTransport(loop.io, options);
  TransportRequest request = httpRequest(peer_->url());
  http(request).http_version = HttpVersion::Http2Required;
  Outcome outcome = runOne(loop, *transport, std::move(request));
  const TransportFailure* failure = failureOf(outcome);
  ASSERT_NE(failure, nullptr) << describe(outcome);
  EXPECT_EQ(failure->kind, TransportErrorKind::Local);
  EXPECT_TRUE(failure->request_may_have_been_sent);
  EXPECT_NE(failure->detail.find("HTTP/2 is required"), std::string::npos) << failure->detail;
  EXPECT_NE(failure->detail.find("HTTP/1.0"), std::string::npos) << failure->detail;
}

}  // namespace
}  // namespace omnigate::transport::testing
