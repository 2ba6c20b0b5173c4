#include <gtest/gtest.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/transport/transport.h"
#include "tests/fakes/http_test_server.h"
#include "tests/unit/daemon/transport/transport_test_support.h"

namespace omnigate::transport::testing {
namespace {

using channels::FileWrite;
using channels::HttpVersion;
using fakes::HttpTestServer;
using fakes::ScriptedReply;

std::string headerValue(const TransportReply& reply, const std::string& name) {
  for (const auto& [key, value] : reply.headers) {
    if (key == name) return value;
  }
  return "(absent)";
}

TEST(CurlTransport, ReturnsStatusHeadersAndBody) {
  HttpTestServer server;
  server.enqueue({.status = 201,
                  .headers = {{"X-Request-Id", "abc-123"}, {"Content-Type", "application/json"}},
                  .body = R"({"id":"m-1"})"});
  Loop loop;
  auto transport = makeCurlTransport(loop.io, {});
  TransportRequest request =
      httpRequest(server.url("/v1/send?x=1"), HttpMethod::Post, R"({"to":"+15550001"})");
  http(request).headers = {
      {"Authorization", "Bearer t0k"}, {"Content-Type", "application/json"}, {"X-Empty", ""}};

  Outcome outcome = runOne(loop, *transport, std::move(request));

  const TransportReply* reply = replyOf(outcome);
  ASSERT_NE(reply, nullptr) << describe(outcome);
  EXPECT_EQ(reply->status, 201);
  EXPECT_EQ(reply->body, R"({"id":"m-1"})");
  EXPECT_EQ(headerValue(*reply, "X-Request-Id"), "abc-123");
  EXPECT_EQ(headerValue(*reply, "Content-Type"), "application/json");
  EXPECT_EQ(reply->http_version, "1.1");
  EXPECT_FALSE(reply->retry_after.has_value());

  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].target, "/v1/send?x=1");
  EXPECT_EQ(requests[0].body, R"({"to":"+15550001"})");
  EXPECT_EQ(requests[0].header("Authorization"), "Bearer t0k");
  EXPECT_EQ(requests[0].header("Content-Type"), "application/json");
  EXPECT_EQ(requests[0].header("X-Empty"), "");
  EXPECT_EQ(transport->inFlight(), 0u);
}

struct MethodCase {
  std::string name;
  HttpMethod method;
  std::string expected_method;
  std::string body;
  std::string expected_body;
};

class CurlTransportMethods : public ::testing::TestWithParam<MethodCase> {};

TEST_P(CurlTransportMethods, SendsMethodAndBody) {
  HttpTestServer server;
  Loop loop;
  auto transport = makeCurlTransport(loop.io, {});
  Outcome outcome =
      runOne(loop, *transport, httpRequest(server.url("/m"), GetParam().method, GetParam().body));
  ASSERT_NE(replyOf(outcome), nullptr) << describe(outcome);
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, GetParam().expected_method);
  EXPECT_EQ(requests[0].body, GetParam().expected_body);
  // curl asks for "100 Continue" before large bodies unless told not to; servers that ignore
  // Expect would cost every such request a second.
  EXPECT_EQ(requests[0].header("Expect"), std::nullopt);
}

INSTANTIATE_TEST_SUITE_P(
    AllMethods, CurlTransportMethods,
    ::testing::Values(MethodCase{"Get", HttpMethod::Get, "GET", "ignored", ""},
                      MethodCase{"Post", HttpMethod::Post, "POST", "a=1", "a=1"},
                      MethodCase{"EmptyPost", HttpMethod::Post, "POST", "", ""},
                      MethodCase{"Put", HttpMethod::Put, "PUT", "{\"k\":2}", "{\"k\":2}"},
                      // Above curl's 100-continue threshold: must still go out without waiting.
                      MethodCase{"LargePost", HttpMethod::Post, "POST", std::string(2 << 20, 'b'),
                                 std::string(2 << 20, 'b')}),
    [](const auto& info) { return info.param.name; });

TEST(CurlTransport, ReusesOneConnectionForSequentialRequests) {
  HttpTestServer server;
  Loop loop;
  auto transport = makeCurlTransport(loop.io, {});
  for (int i = 0; i < 20; ++i) {
    Outcome outcome = runOne(loop, *transport, httpRequest(server.url("/seq")));
    ASSERT_NE(replyOf(outcome), nullptr) << describe(outcome);
  }
  EXPECT_EQ(server.requestCount(), 20u);
  EXPECT_EQ(server.connectionsAccepted(), 1u);
}

TEST(CurlTransport, RequestsWithDifferentPoolKeysNeverShareAConnection) {
  HttpTestServer server;
  Loop loop;
  auto transport = makeCurlTransport(loop.io, {});
  const std::vector<std::string> keys = {"", "team-a", "team-b", "team-a", "", "team-b", "team-a"};
  for (const auto& key : keys) {
    TransportRequest request = httpRequest(server.url("/" + (key.empty() ? "none" : key)));
    http(request).pool_key = key;
    Outcome outcome = runOne(loop, *transport, std::move(request));
    ASSERT_NE(replyOf(outcome), nullptr) << describe(outcome);
  }
  std::map<std::string, std::set<std::size_t>> connections_by_target;
  for (const auto& request : server.requests()) {
    connections_by_target[request.target].insert(request.connection);
  }
  ASSERT_EQ(connections_by_target.size(), 3u);
  std::set<std::size_t> all;
  for (const auto& [target, connections] : connections_by_target) {
    EXPECT_EQ(connections.size(), 1u) << target << " used more than one connection";
    all.insert(connections.begin(), connections.end());
  }
  EXPECT_EQ(all.size(), 3u) << "two pools shared a connection";
  EXPECT_EQ(server.connectionsAccepted(), 3u);
}

std::string httpDate(std::chrono::system_clock::time_point when) {
  std::time_t seconds = std::chrono::system_clock::to_time_t(when);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[64];
  std::strftime(text, sizeof(text), "%a, %d %b %Y %H:%M:%S GMT", &utc);
  return text;
}

struct RetryAfterCase {
  std::string name;
  std::optional<std::string> header;  // nullopt: no Retry-After at all
  std::optional<long> low;            // expected range; nullopt: no retry_after
  long high = 0;
  // When set, the header is an HTTP-date this far from the moment the test runs.
  std::optional<std::chrono::seconds> date_from_now;
};

class CurlTransportRetryAfter : public ::testing::TestWithParam<RetryAfterCase> {};

TEST_P(CurlTransportRetryAfter, ParsesAndClamps) {
  const RetryAfterCase& param = GetParam();
  HttpTestServer server;
  ScriptedReply reply{.status = 503, .body = "busy"};
  if (param.header) reply.headers.emplace_back("Retry-After", *param.header);
  if (param.date_from_now) {
    reply.headers.emplace_back("Retry-After",
                               httpDate(std::chrono::system_clock::now() + *param.date_from_now));
  }
  server.enqueue(reply);
  Loop loop;
  auto transport = makeCurlTransport(loop.io, {});
  Outcome outcome = runOne(loop, *transport, httpRequest(server.url("/busy")));
  const TransportReply* got = replyOf(outcome);
  ASSERT_NE(got, nullptr) << describe(outcome);
  EXPECT_EQ(got->status, 503);
  EXPECT_EQ(got->body, "busy");
  if (!param.low) {
    EXPECT_FALSE(got->retry_after.has_value()) << got->retry_after->count();
    return;
  }
  ASSERT_TRUE(got->retry_after.has_value());
  EXPECT_GE(got->retry_after->count(), *param.low);
  EXPECT_LE(got->retry_after->count(), param.high);
}

INSTANTIATE_TEST_SUITE_P(
    Values, CurlTransportRetryAfter,
    ::testing::Values(RetryAfterCase{"Seconds", "120", 120, 120},
                      RetryAfterCase{"HttpDate", std::nullopt, 88, 91, std::chrono::seconds(90)},
                      RetryAfterCase{"ClampedToADay", "999999", 86400, 86400},
                      RetryAfterCase{"ZeroIsIgnored", "0", std::nullopt},
                      RetryAfterCase{"DateInThePastIsIgnored", std::nullopt, std::nullopt, 0,
                                     std::chrono::seconds(-3600)},
                      RetryAfterCase{"GarbageIsIgnored", "soon", std::nullopt},
                      RetryAfterCase{"Absent", std::nullopt, std::nullopt}),
    [](const auto& info) { return info.param.name; });

TEST(CurlTransport, ConnectionRefusedIsAConnectFailure) {
  Loop loop;
  auto transport = makeCurlTransport(loop.io, {});
  std::string url = "http://127.0.0.1:" + std::to_string(unusedPort()) + "/";
  Outcome outcome = runOne(loop, *transport, httpRequest(url));
  const TransportFailure* failure = failureOf(outcome);
  ASSERT_NE(failure, nullptr) << describe(outcome);
  EXPECT_EQ(failure->kind, TransportErrorKind::Connect) << failure->detail;
  EXPECT_FALSE(failure->request_may_have_been_sent);
  EXPECT_FALSE(failure->detail.empty());
}

TEST(CurlTransport, UnresolvableNameIsAResolveFailure) {
  Loop loop;
  auto transport = makeCurlTransport(loop.io, {});
  Outcome outcome = runOne(loop, *transport,
                           httpRequest("http://omnigate-test.invalid/", HttpMethod::Get, {}, 8s));
  const TransportFailure* failure = failureOf(outcome);
  ASSERT_NE(failure, nullptr) << describe(outcome);
  EXPECT_EQ(failure->kind, TransportErrorKind::Resolve) << failure->detail;
  EXPECT_FALSE(failure->request_may_have_been_sent);
}

TEST(CurlTransport, MalformedUrlIsALocalFailure) {
  Loop loop;
  auto transport = makeCurlTransport(loop.io, {});
  for (const char* url : {"http://[::1", "ftp://127.0.0.1/file", "file:///etc/passwd"}) {
    Outcome outcome = runOne(loop, *transport, httpRequest(url));
    const TransportFailure* failure = failureOf(outcome);
    ASSERT_NE(failure, nullptr) << url << ": " << describe(outcome);
    EXPECT_EQ(failure->kind, TransportErrorKind::Local) << url << ": " << failure->detail;
    EXPECT_FALSE(failure->request_may_have_been_sent) << url;
  }
}

TEST(CurlTransport, HangingServerTimesOutAfterTheRequestWasSent) {
  HttpTestServer server;
  server.enqueue({.hang = true});
  Loop loop;
  auto transport = makeCurlTransport(loop.io, {});
  auto started = std::chrono::steady_clock::now();
  Outcome outcome =
      runOne(loop, *transport, httpRequest(server.url("/hang"), HttpMethod::Post, "x", 300ms));
  auto elapsed = std::chrono::steady_clock::now() - started;
  const TransportFailure* failure = failureOf(outcome);
  ASSERT_NE(failure, nullptr) << describe(outcome);
  EXPECT_EQ(failure->kind, TransportErrorKind::Timeout) << failure->detail;
  EXPECT_TRUE(failure->request_may_have_been_sent);
  EXPECT_GE(elapsed, 290ms);
  EXPECT_LT(elapsed, 5s);
  EXPECT_EQ(server.requestCount(), 1u);
}

TEST(CurlTransport, StalledReplyIsCutOffByTheLowSpeedLimit) {
  HttpTestServer server;
  // Headers and the first bytes arrive, then the body stalls far below 1 byte/s.
  server.enqueue(
      {.body = "0123456789", .trickle_bytes = 2, .trickle_interval = std::chrono::seconds(30)});
  Loop loop;
  TransportOptions options;
  options.low_speed_time_s = 1;
  auto transport = makeCurlTransport(loop.io, options);
  auto started = std::chrono::steady_clock::now();
  Outcome outcome =
      runOne(loop, *transport, httpRequest(server.url("/slow"), HttpMethod::Get, {}, 30s));
  auto elapsed = std::chrono::steady_clock::now() - started;
  const TransportFailure* failure = failureOf(outcome);
  ASSERT_NE(failure, nullptr) << describe(outcome);
  EXPECT_EQ(failure->kind, TransportErrorKind::Timeout) << failure->detail;
  EXPECT_TRUE(failure->request_may_have_been_sent);
  EXPECT_NE(failure->detail.find("too slow"), std::string::npos) << failure->detail;
  EXPECT_LT(elapsed, 10s);
}

TEST(CurlTransport, SurvivesDescriptorNumbersBeingReusedByNewConnections) {
  HttpTestServer server;
  server.setDefault({.body = "bye", .keep_alive = false});
  Loop loop;
  auto transport = makeCurlTransport(loop.io, {});
  for (int i = 0; i < 50; ++i) {
    Outcome outcome =
        runOne(loop, *transport, httpRequest(server.url("/close"), HttpMethod::Get, {}, 5s));
    ASSERT_NE(replyOf(outcome), nullptr) << i << ": " << describe(outcome);
  }
  EXPECT_EQ(server.connectionsAccepted(), 50u);
}

TEST(CurlTransport, ConnectionClosedWithoutReplyIsAReset) {
  HttpTestServer server;
  server.enqueue({.close_without_reply = true});
  Loop loop;
  auto transport = makeCurlTransport(loop.io, {});
  Outcome outcome =
      runOne(loop, *transport, httpRequest(server.url("/drop"), HttpMethod::Post, "payload"));
  const TransportFailure* failure = failureOf(outcome);
  ASSERT_NE(failure, nullptr) << describe(outcome);
  EXPECT_EQ(failure->kind, TransportErrorKind::Reset) << failure->detail;
  EXPECT_TRUE(failure->request_may_have_been_sent);
}

struct SizeCase {
  std::string name;
  ScriptedReply reply;
  bool too_large;  // fails as TooLarge; otherwise a reply with the body cut at the cap
};

class CurlTransportReplyCap : public ::testing::TestWithParam<SizeCase> {};

TEST_P(CurlTransportReplyCap, EnforcesMaxReplyBytes) {
  HttpTestServer server;
  server.enqueue(GetParam().reply);
  Loop loop;
  TransportOptions options;
  options.max_reply_bytes = 1000;
  auto transport = makeCurlTransport(loop.io, options);
  Outcome outcome = runOne(loop, *transport, httpRequest(server.url("/big")));
  if (!GetParam().too_large) {
    const TransportReply* reply = replyOf(outcome);
    ASSERT_NE(reply, nullptr) << describe(outcome);
    EXPECT_EQ(reply->status, GetParam().reply.status);
    EXPECT_LE(reply->body.size(), 1000u);
    const ScriptedReply& sent = GetParam().reply;
    const std::string prefix = sent.huge_body_bytes > 0 ? std::string(1000, 'x') : sent.body;
    EXPECT_EQ(reply->body, prefix.substr(0, reply->body.size()));
    return;
  }
  const TransportFailure* failure = failureOf(outcome);
  ASSERT_NE(failure, nullptr) << describe(outcome);
  EXPECT_EQ(failure->kind, TransportErrorKind::TooLarge) << failure->detail;
  EXPECT_TRUE(failure->request_may_have_been_sent);
}

INSTANTIATE_TEST_SUITE_P(
    Sizes, CurlTransportReplyCap,
    ::testing::Values(
        SizeCase{"ExactlyAtTheCap", {.body = std::string(1000, 'a')}, false},
        SizeCase{"ChunkedAtTheCap", {.body = std::string(1000, 'a'), .chunked = true}, false},
        // A 2xx is the provider's acceptance: read, cut at the cap, never failed (and retried).
        SizeCase{"AcceptedDeclaredLengthOverTheCap", {.body = std::string(1001, 'a')}, false},
        SizeCase{
            "AcceptedChunkedOverTheCap", {.body = std::string(1001, 'a'), .chunked = true}, false},
        SizeCase{"AcceptedHugeChunkedBody", {.chunked = true, .huge_body_bytes = 8 << 20}, false},
        SizeCase{"AcceptedHugeDeclaredBody", {.huge_body_bytes = 8 << 20}, false},
        SizeCase{
            "ErrorDeclaredLengthOverTheCap", {.status = 500, .body = std::string(1001, 'a')}, true},
        SizeCase{"ErrorChunkedOverTheCap",
                 {.status = 503, .body = std::string(1001, 'a'), .chunked = true},
                 true},
        SizeCase{"ErrorHugeChunkedBody",
                 {.status = 502, .chunked = true, .huge_body_bytes = 8 << 20},
                 true},
        SizeCase{"ErrorHugeDeclaredBody", {.status = 500, .huge_body_bytes = 8 << 20}, true}),
    [](const auto& info) { return info.param.name; });

TEST(CurlTransport, RefusesAPrivateDestinationBeforeConnecting) {
  HttpTestServer server;
  Loop loop;
  auto transport = makeCurlTransport(loop.io, {});
  TransportRequest request = httpRequest(server.url("/internal"), HttpMethod::Post, "secret");
  http(request).refuse_private_destinations = true;

  Outcome outcome = runOne(loop, *transport, std::move(request));

  const TransportFailure* failure = failureOf(outcome);
  ASSERT_NE(failure, nullptr) << describe(outcome);
  EXPECT_EQ(failure->kind, TransportErrorKind::Local);
  EXPECT_FALSE(failure->request_may_have_been_sent);
  EXPECT_NE(failure->detail.find("destination address 127.0.0.1 is "), std::string::npos)
      << failure->detail;
  EXPECT_NE(failure->detail.find("not allowed"), std::string::npos) << failure->detail;
  EXPECT_NE(failure->detail.find("loopback"), std::string::npos) << failure->detail;
  EXPECT_EQ(server.requestCount(), 0u);
  EXPECT_EQ(server.connectionsAccepted(), 0u);

  TransportRequest allowed = httpRequest(server.url("/internal"));
  http(allowed).refuse_private_destinations = false;
  Outcome second = runOne(loop, *transport, std::move(allowed));
  ASSERT_NE(replyOf(second), nullptr) << describe(second);
  EXPECT_EQ(server.requestCount(), 1u);
}

TEST(CurlTransport, RefusesAPrivateDestinationOnAPooledConnection) {
  HttpTestServer server;
  Loop loop;
  auto transport = makeCurlTransport(loop.io, {});
  Outcome first = runOne(loop, *transport, httpRequest(server.url("/a")));
  ASSERT_NE(replyOf(first), nullptr) << describe(first);

  TransportRequest request = httpRequest(server.url("/b"));
  http(request).refuse_private_destinations = true;
  Outcome second = runOne(loop, *transport, std::move(request));

  const TransportFailure* failure = failureOf(second);
  ASSERT_NE(failure, nullptr) << describe(second);
  EXPECT_EQ(failure->kind, TransportErrorKind::Local);
  EXPECT_FALSE(failure->request_may_have_been_sent);
  EXPECT_NE(failure->detail.find("127.0.0.1"), std::string::npos) << failure->detail;
  EXPECT_EQ(server.requestCount(), 1u);
}

TEST(CurlTransport, RefusesHeadersThatWouldSplitTheRequest) {
  HttpTestServer server;
  Loop loop;
  auto transport = makeCurlTransport(loop.io, {});
  for (const channels::Header& header :
       {channels::Header{"X-A", "v\r\nX-Injected: 1"}, channels::Header{"X-B\n", "v"},
        channels::Header{"", "v"}, channels::Header{"X:C", "v"}}) {
    TransportRequest request = httpRequest(server.url("/h"));
    http(request).headers = {header};
    Outcome outcome = runOne(loop, *transport, std::move(request));
    const TransportFailure* failure = failureOf(outcome);
    ASSERT_NE(failure, nullptr) << describe(outcome);
    EXPECT_EQ(failure->kind, TransportErrorKind::Local);
    EXPECT_FALSE(failure->request_may_have_been_sent);
  }
  EXPECT_EQ(server.requestCount(), 0u);
}

TEST(CurlTransport, Http1IsHonoured) {
  HttpTestServer server;
  Loop loop;
  auto transport = makeCurlTransport(loop.io, {});
  TransportRequest request = httpRequest(server.url("/v"));
  http(request).http_version = HttpVersion::Http1;
  Outcome outcome = runOne(loop, *transport, std::move(request));
  const TransportReply* reply = replyOf(outcome);
  ASSERT_NE(reply, nullptr) << describe(outcome);
  EXPECT_EQ(reply->http_version, "1.1");
  EXPECT_EQ(server.requests().at(0).version, "1.1");
}

TEST(CurlTransport, Http2RequiredNeverSucceedsAgainstAnHttp1Server) {
  HttpTestServer server;
  Loop loop;
  auto transport = makeCurlTransport(loop.io, {});
  TransportRequest request = httpRequest(server.url("/h2"), HttpMethod::Post, "{}");
  http(request).http_version = HttpVersion::Http2Required;
  Outcome outcome = runOne(loop, *transport, std::move(request));
  const TransportFailure* failure = failureOf(outcome);
  ASSERT_NE(failure, nullptr) << describe(outcome);
  EXPECT_EQ(server.requestCount(), 0u) << "an HTTP/1.1 request went out";
}

TEST(CurlTransport, ManyConcurrentRequestsAllComplete) {
  HttpTestServer server;
  server.setDefault({.body = "ok", .delay = std::chrono::milliseconds(5)});
  Loop loop;
  TransportOptions options;
  options.max_host_connections = 8;
  auto transport = makeCurlTransport(loop.io, options);
  std::vector<TransportRequest> requests;
  for (int i = 0; i < 300; ++i) {
    requests.push_back(
        httpRequest(server.url("/c/" + std::to_string(i)), HttpMethod::Post, std::to_string(i)));
  }
  std::vector<Outcome> outcomes = runAll(loop, *transport, std::move(requests), 60s);
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    const TransportReply* reply = replyOf(outcomes[i]);
    ASSERT_NE(reply, nullptr) << i << ": " << describe(outcomes[i]);
    EXPECT_EQ(reply->status, 200);
  }
  EXPECT_EQ(server.requestCount(), 300u);
  EXPECT_LE(server.connectionsAccepted(), 8u);
  EXPECT_EQ(transport->inFlight(), 0u);
}

TEST(CurlTransport, ShutdownFailsEveryRequestInFlight) {
  HttpTestServer server;
  server.setDefault({.hang = true});
  Loop loop;
  auto transport = makeCurlTransport(loop.io, {});
  std::vector<Outcome> outcomes;
  for (int i = 0; i < 5; ++i) {
    transport->submit(httpRequest(server.url("/stuck")),
                      [&outcomes](Outcome outcome) { outcomes.push_back(std::move(outcome)); });
  }
  ASSERT_TRUE(loop.runUntil([&] { return server.requestCount() == 5; }));
  EXPECT_EQ(transport->inFlight(), 5u);

  transport->shutdown();
  EXPECT_EQ(transport->inFlight(), 0u);
  EXPECT_TRUE(outcomes.empty()) << "completions must be posted, not called inline";
  loop.drain();

  ASSERT_EQ(outcomes.size(), 5u);
  for (const auto& outcome : outcomes) {
    const TransportFailure* failure = failureOf(outcome);
    ASSERT_NE(failure, nullptr) << describe(outcome);
    EXPECT_EQ(failure->kind, TransportErrorKind::Local);
    EXPECT_TRUE(failure->request_may_have_been_sent);
    EXPECT_NE(failure->detail.find("shutting down"), std::string::npos) << failure->detail;
  }

  Outcome late = runOne(loop, *transport, httpRequest(server.url("/late")));
  const TransportFailure* refused = failureOf(late);
  ASSERT_NE(refused, nullptr) << describe(late);
  EXPECT_EQ(refused->kind, TransportErrorKind::Local);
  EXPECT_EQ(server.requestCount(), 5u);
  transport->shutdown();  // idempotent
}

TEST(CurlTransport, DestroyingTheTransportWithRequestsInFlightIsSafe) {
  HttpTestServer server;
  server.setDefault({.hang = true});
  Loop loop;
  auto transport = makeCurlTransport(loop.io, {});
  int completed = 0;
  for (int i = 0; i < 3; ++i) {
    transport->submit(httpRequest(server.url("/stuck")), [&completed](Outcome outcome) {
      EXPECT_NE(failureOf(outcome), nullptr);
      ++completed;
    });
  }
  ASSERT_TRUE(loop.runUntil([&] { return server.requestCount() == 3; }));
  transport.reset();
  loop.drain();
  EXPECT_EQ(completed, 3);
  // Nothing the destroyed transport left behind may run against freed state.
  loop.runUntil([] { return false; }, 100ms);
}

TEST(CurlTransport, CompletionsAreNeverCalledInline) {
  HttpTestServer server;
  Loop loop;
  auto transport = makeCurlTransport(loop.io, {});
  auto dir =
      std::filesystem::temp_directory_path() / ("omnigate-inline-" + std::to_string(::getpid()));
  std::vector<TransportRequest> requests;
  requests.push_back(httpRequest(server.url("/x")));
  requests.push_back(TransportRequest{FileWrite{(dir / "f.txt").string(), "x"}});
  requests.push_back(TransportRequest{FileWrite{"", "no path"}});
  requests.push_back(httpRequest("notaurl://"));
  int completed = 0;
  for (auto& request : requests) {
    transport->submit(std::move(request), [&completed](Outcome) { ++completed; });
    EXPECT_EQ(completed, 0);
  }
  ASSERT_TRUE(loop.runUntil([&] { return completed == 4; }));
  std::filesystem::remove_all(dir);
}

TEST(CurlTransport, FileWriteWritesAtomicallyAndReportsFailures) {
  auto dir =
      std::filesystem::temp_directory_path() / ("omnigate-filewrite-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  Loop loop;
  auto transport = makeCurlTransport(loop.io, {});
  auto target = dir / "outbox" / "m-1.eml";

  Outcome written = runOne(
      loop, *transport, TransportRequest{FileWrite{target.string(), "Subject: x\r\n\r\nhi\r\n"}});
  const TransportReply* reply = replyOf(written);
  ASSERT_NE(reply, nullptr) << describe(written);
  EXPECT_EQ(reply->status, 200);
  std::ifstream in(target);
  std::stringstream contents;
  contents << in.rdbuf();
  EXPECT_EQ(contents.str(), "Subject: x\r\n\r\nhi\r\n");
  std::size_t entries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(target.parent_path())) {
    (void)entry;
    ++entries;
  }
  EXPECT_EQ(entries, 1u) << "a temporary file was left behind";

  Outcome failed = runOne(loop, *transport,
                          TransportRequest{FileWrite{(target / "under-a-file").string(), "x"}});
  const TransportFailure* failure = failureOf(failed);
  ASSERT_NE(failure, nullptr) << describe(failed);
  EXPECT_EQ(failure->kind, TransportErrorKind::Local);
  EXPECT_FALSE(failure->request_may_have_been_sent);
  EXPECT_NE(failure->detail.find("Not a directory"), std::string::npos) << failure->detail;
  std::filesystem::remove_all(dir);
}

TEST(CurlTransport, LeaksNoDescriptors) {
  {
    // Warm up process-wide state (curl_global_init, OpenSSL) outside the measurement.
    HttpTestServer server;
    Loop loop;
    auto transport = makeCurlTransport(loop.io, {});
    Outcome outcome = runOne(loop, *transport, httpRequest(server.url("/warm")));
    ASSERT_NE(replyOf(outcome), nullptr) << describe(outcome);
  }
  std::size_t before = openDescriptorCount();
  {
    HttpTestServer server;
    server.setReplyFor("/ok", {.body = "a"});
    server.setReplyFor("/big", {.status = 502, .body = std::string(5000, 'z')});
    server.setReplyFor("/drop", {.close_without_reply = true});
    server.setDefault({.hang = true});
    Loop loop;
    TransportOptions options;
    options.max_reply_bytes = 1000;
    auto transport = makeCurlTransport(loop.io, options);
    std::vector<TransportRequest> requests;
    requests.push_back(httpRequest(server.url("/ok")));
    requests.push_back(httpRequest(server.url("/hang"), HttpMethod::Get, {}, 200ms));
    requests.push_back(httpRequest(server.url("/big")));
    requests.push_back(httpRequest(server.url("/drop")));
    requests.push_back(httpRequest("http://127.0.0.1:" + std::to_string(unusedPort()) + "/"));
    requests.push_back(httpRequest("http://omnigate-test.invalid/", HttpMethod::Get, {}, 5s));
    TransportRequest refused = httpRequest(server.url("/private"));
    http(refused).refuse_private_destinations = true;
    requests.push_back(std::move(refused));
    TransportRequest pooled = httpRequest(server.url("/pooled"), HttpMethod::Get, {}, 200ms);
    http(pooled).pool_key = "other";
    requests.push_back(std::move(pooled));
    std::vector<Outcome> outcomes = runAll(loop, *transport, std::move(requests));
    EXPECT_NE(replyOf(outcomes[0]), nullptr) << describe(outcomes[0]);
    for (std::size_t i = 1; i < outcomes.size(); ++i) {
      EXPECT_NE(failureOf(outcomes[i]), nullptr) << i << ": " << describe(outcomes[i]);
    }
    // Leave requests in flight at shutdown too.
    int completed = 0;
    for (int i = 0; i < 4; ++i) {
      transport->submit(httpRequest(server.url("/stuck")), [&completed](Outcome) { ++completed; });
    }
    ASSERT_TRUE(loop.runUntil([&] { return server.requestCount() >= 9; }));
    transport->shutdown();
    loop.drain();
    EXPECT_EQ(completed, 4);
    EXPECT_GT(openDescriptorCount(), before);  // the server still holds its side
  }
  EXPECT_EQ(openDescriptorCount(), before);
}

}  // namespace
}  // namespace omnigate::transport::testing
