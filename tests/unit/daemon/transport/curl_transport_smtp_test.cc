// SMTP through libcurl against a real SMTP server (aiosmtpd), scripted to refuse on demand.

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/transport/transport.h"
#include "tests/unit/daemon/transport/transport_test_support.h"

namespace omnigate::transport::testing {
namespace {

using channels::SmtpRequest;

// Refuses recipients starting with "reject", answers 451 after DATA when the message carries
// X-Test-Tempfail, otherwise accepts and prints what it received. Exits when its stdin closes.
constexpr const char* kServerScript = R"PY(
import asyncio, sys
from aiosmtpd.smtp import SMTP

class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith('reject'):
            return '550 5.1.1 <%s>: Recipient address rejected' % address
        envelope.rcpt_tos.append(address)
        return '250 OK'

    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content or b''
        if b'X-Test-Tempfail' in content:
            return '451 4.3.0 Try again later'
        print('DELIVERED', envelope.mail_from, ','.join(envelope.rcpt_tos), content.hex(),
              flush=True)
        return '250 2.0.0 Ok: queued as TEST1'

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Handler(), hostname='smtp.test'),
                                      '127.0.0.1', 0)
    print('PORT', server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    loop.add_reader(sys.stdin.fileno(), stop.set)
    await stop.wait()

asyncio.run(main())
)PY";

constexpr const char* kPython = "/usr/bin/python3";

std::string hex(const std::string& bytes) {
  std::string out;
  char pair[3];
  for (unsigned char c : bytes) {
    std::snprintf(pair, sizeof(pair), "%02x", c);
    out += pair;
  }
  return out;
}

class CurlTransportSmtp : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string probe = std::string(kPython) + " -c 'import aiosmtpd' >/dev/null 2>&1";
    if (std::system(probe.c_str()) != 0) GTEST_SKIP() << "python3-aiosmtpd not installed";
    server_ =
        std::make_unique<ChildProcess>(std::vector<std::string>{kPython, "-c", kServerScript});
    ASSERT_TRUE(server_->started());
    auto line = server_->readLine(15s);
    ASSERT_TRUE(line && line->rfind("PORT ", 0) == 0) << (line ? *line : "no output");
    url_ = "smtp://127.0.0.1:" + line->substr(5);
  }

  TransportRequest smtpRequest(std::string rcpt, std::string payload, bool require_tls = false) {
    SmtpRequest smtp;
    smtp.url = url_;
    smtp.mail_from = "sender@shop.test";
    smtp.rcpt_to = std::move(rcpt);
    smtp.payload = std::move(payload);
    smtp.require_tls = require_tls;
    TransportRequest request;
    request.what = std::move(smtp);
    request.timeout = 10s;
    return request;
  }

  std::unique_ptr<ChildProcess> server_;
  std::string url_;
};

TEST_F(CurlTransportSmtp, DeliversTheMessageAndReturnsTheServerReply) {
  // A line starting with "." must survive SMTP dot-stuffing unchanged.
  const std::string payload =
      "From: sender@shop.test\r\nTo: anna@example.test\r\nSubject: hi\r\n\r\n"
      ".leading dot\r\nsecond line\r\n";
  Loop loop;
  auto transport = makeCurlTransport(loop.io, {});
  Outcome outcome = runOne(loop, *transport, smtpRequest("anna@example.test", payload));
  const TransportReply* reply = replyOf(outcome);
  ASSERT_NE(reply, nullptr) << describe(outcome);
  EXPECT_EQ(reply->status, 250);
  EXPECT_NE(reply->body.find("250 2.0.0 Ok: queued as TEST1"), std::string::npos) << reply->body;
  EXPECT_TRUE(reply->http_version.empty());

  auto delivered = server_->readLine(5s);
  ASSERT_TRUE(delivered.has_value());
  EXPECT_EQ(*delivered, "DELIVERED sender@shop.test anna@example.test " + hex(payload));
}

TEST_F(CurlTransportSmtp, RefusedRecipientIsAReplyCarryingTheServerCode) {
  Loop loop;
  auto transport = makeCurlTransport(loop.io, {});
  Outcome outcome =
      runOne(loop, *transport, smtpRequest("reject-me@example.test", "Subject: x\r\n\r\nbody\r\n"));
  const TransportReply* reply = replyOf(outcome);
  ASSERT_NE(reply, nullptr) << describe(outcome);
  EXPECT_EQ(reply->status, 550);
  EXPECT_NE(reply->body.find("5.1.1"), std::string::npos) << reply->body;
  EXPECT_NE(reply->body.find("Recipient address rejected"), std::string::npos) << reply->body;
}

TEST_F(CurlTransportSmtp, TemporaryRefusalAfterDataIsAReplyWith451) {
  Loop loop;
  auto transport = makeCurlTransport(loop.io, {});
  Outcome outcome = runOne(
      loop, *transport,
      smtpRequest("anna@example.test", "X-Test-Tempfail: yes\r\nSubject: x\r\n\r\nbody\r\n"));
  const TransportReply* reply = replyOf(outcome);
  ASSERT_NE(reply, nullptr) << describe(outcome);
  EXPECT_EQ(reply->status, 451);
  EXPECT_NE(reply->body.find("4.3.0 Try again later"), std::string::npos) << reply->body;
}

TEST_F(CurlTransportSmtp, SequentialMessagesAllArrive) {
  Loop loop;
  auto transport = makeCurlTransport(loop.io, {});
  for (int i = 0; i < 5; ++i) {
    std::string payload = "Subject: n" + std::to_string(i) + "\r\n\r\nbody\r\n";
    Outcome outcome = runOne(loop, *transport, smtpRequest("anna@example.test", payload));
    const TransportReply* reply = replyOf(outcome);
    ASSERT_NE(reply, nullptr) << i << ": " << describe(outcome);
    EXPECT_EQ(reply->status, 250);
    auto delivered = server_->readLine(5s);
    ASSERT_TRUE(delivered.has_value());
    EXPECT_NE(delivered->find(hex(payload)), std::string::npos) << *delivered;
  }
}

TEST_F(CurlTransportSmtp, RequiredTlsWithoutStartTlsIsATlsFailure) {
  Loop loop;
  auto transport = makeCurlTransport(loop.io, {});
  Outcome outcome = runOne(loop, *transport,
                           smtpRequest("anna@example.test", "Subject: x\r\n\r\nbody\r\n", true));
  const TransportFailure* failure = failureOf(outcome);
  ASSERT_NE(failure, nullptr) << describe(outcome);
  EXPECT_EQ(failure->kind, TransportErrorKind::Tls) << failure->detail;
  EXPECT_FALSE(failure->request_may_have_been_sent);
  EXPECT_FALSE(server_->readLine(200ms).has_value()) << "the message was delivered in clear";
}

TEST_F(CurlTransportSmtp, LineBreakInAnEnvelopeAddressIsRefusedLocally) {
  Loop loop;
  auto transport = makeCurlTransport(loop.io, {});
  Outcome outcome = runOne(
      loop, *transport,
      smtpRequest("anna@example.test>\r\nRCPT TO:<other@example.test", "Subject: x\r\n\r\nb\r\n"));
  const TransportFailure* failure = failureOf(outcome);
  ASSERT_NE(failure, nullptr) << describe(outcome);
  EXPECT_EQ(failure->kind, TransportErrorKind::Local);
  EXPECT_FALSE(failure->request_may_have_been_sent);
}

}  // namespace
}  // namespace omnigate::transport::testing
