// HTTP/2 against a real HTTP/2 peer (Node's http2 module): multiplexing, pool separation, prior
// knowledge over cleartext. The peer answers every stream with the id of its HTTP/2 session and
// how many streams were open on that session, so the test sees how curl placed its requests.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/json/parse.hpp>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "daemon/transport/transport.h"
#include "tests/unit/daemon/transport/transport_test_support.h"

namespace omnigate::transport::testing {
namespace {

namespace fs = std::filesystem;
using channels::HttpVersion;

constexpr const char* kPeerScript = R"JS(
'use strict';
const http2 = require('http2');
const fs = require('fs');
const [certFile, keyFile] = process.argv.slice(1);
let sessions = 0;
function serve(server) {
  server.on('session', (session) => { session.tag = ++sessions; session.open = 0; });
  server.on('stream', (stream, headers) => {
    const session = stream.session;
    session.open++;
    stream.on('close', () => { session.open--; });
    let body = '';
    stream.on('data', (chunk) => { body += chunk; });
    stream.on('end', () => {
      setTimeout(() => {
        stream.respond({':status': 200, 'content-type': 'application/json'});
        stream.end(JSON.stringify({session: session.tag, open: session.open,
                                   path: headers[':path'], body}));
      }, 30);
    });
  });
}
const secure = http2.createSecureServer(
    {cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile), allowHTTP1: false});
const clear = http2.createServer();
serve(secure);
serve(clear);
secure.listen(0, '127.0.0.1', () => {
  clear.listen(0, '127.0.0.1', () => {
    console.log('PORTS ' + secure.address().port + ' ' + clear.address().port);
  });
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
)JS";

fs::path testCaScript() {
  return fs::path(__FILE__).parent_path() / ".." / ".." / ".." / "fakes" / "testca" /
         "make_testca.sh";
}

struct StreamInfo {
  long session = 0;
  long open = 0;
};

StreamInfo streamInfo(const TransportReply& reply) {
  auto parsed = boost::json::parse(reply.body).as_object();
  return {static_cast<long>(parsed.at("session").as_int64()),
          static_cast<long>(parsed.at("open").as_int64())};
}

class CurlTransportHttp2 : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("command -v node >/dev/null 2>&1") != 0 ||
        std::system("command -v openssl >/dev/null 2>&1") != 0) {
      GTEST_SKIP() << "node or openssl not available";
    }
    std::string pattern = (fs::temp_directory_path() / "omnigate-h2-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    std::string command = "bash '" + testCaScript().string() + "' '" + dir_.string() + "'";
    ASSERT_EQ(std::system(command.c_str()), 0);
    peer_ = std::make_unique<ChildProcess>(std::vector<std::string>{
        "node", "-e", kPeerScript, (dir_ / "server.pem").string(), (dir_ / "server.key").string()});
    auto line = peer_->readLine(15s);
    ASSERT_TRUE(line && line->rfind("PORTS ", 0) == 0) << (line ? *line : "no output");
    auto space = line->find(' ', 6);
    secure_port_ = line->substr(6, space - 6);
    clear_port_ = line->substr(space + 1);
    options_.ca_file = (dir_ / "ca.pem").string();
  }

  void TearDown() override {
    peer_.reset();
    std::error_code ignored;
    if (!dir_.empty()) fs::remove_all(dir_, ignored);
  }

  TransportRequest h2Request(const std::string& path, const std::string& pool_key = {},
                             bool secure = true) {
    std::string url = secure ? "https://127.0.0.1:" + secure_port_ + path
                             : "http://127.0.0.1:" + clear_port_ + path;
    TransportRequest request = httpRequest(url, HttpMethod::Post, "{\"n\":1}");
    http(request).http_version = HttpVersion::Http2Required;
    http(request).pool_key = pool_key;
    return request;
  }

  fs::path dir_;
  std::unique_ptr<ChildProcess> peer_;
  std::string secure_port_;
  std::string clear_port_;
  TransportOptions options_;
};

TEST_F(CurlTransportHttp2, ConcurrentRequestsAreMultiplexedOnOneConnection) {
  Loop loop;
  auto transport = makeCurlTransport(loop.io, options_);
  std::vector<TransportRequest> requests;
  for (int i = 0; i < 12; ++i) requests.push_back(h2Request("/3/device/" + std::to_string(i)));
  std::vector<Outcome> outcomes = runAll(loop, *transport, std::move(requests));
  std::set<long> sessions;
  long most_open = 0;
  for (const auto& outcome : outcomes) {
    const TransportReply* reply = replyOf(outcome);
    ASSERT_NE(reply, nullptr) << describe(outcome);
    EXPECT_EQ(reply->status, 200);
    EXPECT_EQ(reply->http_version, "2");
    StreamInfo info = streamInfo(*reply);
    sessions.insert(info.session);
    most_open = std::max(most_open, info.open);
  }
  EXPECT_EQ(sessions.size(), 1u) << "requests were spread over several connections";
  EXPECT_GT(most_open, 1) << "streams were not multiplexed";
}

TEST_F(CurlTransportHttp2, PoolKeysGetSeparateConnections) {
  Loop loop;
  auto transport = makeCurlTransport(loop.io, options_);
  std::vector<TransportRequest> requests;
  const std::vector<std::string> keys = {"team-a", "team-b", "team-a",
                                         "team-b", "team-a", "team-b"};
  for (const auto& key : keys) requests.push_back(h2Request("/" + key, key));
  std::vector<Outcome> outcomes = runAll(loop, *transport, std::move(requests));
  std::map<std::string, std::set<long>> sessions_by_key;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    const TransportReply* reply = replyOf(outcomes[i]);
    ASSERT_NE(reply, nullptr) << describe(outcomes[i]);
    sessions_by_key[keys[i]].insert(streamInfo(*reply).session);
  }
  ASSERT_EQ(sessions_by_key["team-a"].size(), 1u);
  ASSERT_EQ(sessions_by_key["team-b"].size(), 1u);
  EXPECT_NE(*sessions_by_key["team-a"].begin(), *sessions_by_key["team-b"].begin());
}

TEST_F(CurlTransportHttp2, PriorKnowledgeOverCleartext) {
  Loop loop;
  auto transport = makeCurlTransport(loop.io, options_);
  Outcome outcome = runOne(loop, *transport, h2Request("/clear", {}, false));
  const TransportReply* reply = replyOf(outcome);
  ASSERT_NE(reply, nullptr) << describe(outcome);
  EXPECT_EQ(reply->status, 200);
  EXPECT_EQ(reply->http_version, "2");
}

TEST_F(CurlTransportHttp2, AnyVersionNegotiatesHttp2OverTls) {
  Loop loop;
  auto transport = makeCurlTransport(loop.io, options_);
  TransportRequest request = h2Request("/any");
  http(request).http_version = HttpVersion::Any;
  Outcome outcome = runOne(loop, *transport, std::move(request));
  const TransportReply* reply = replyOf(outcome);
  ASSERT_NE(reply, nullptr) << describe(outcome);
  EXPECT_EQ(reply->http_version, "2");
}

}  // namespace
}  // namespace omnigate::transport::testing
