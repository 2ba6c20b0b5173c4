#include "daemon/transport/curl_errors.h"

#include <gtest/gtest.h>

#include <string>

namespace omnigate::transport {
namespace {

using channels::TransportErrorKind;

struct CodeCase {
  CURLcode code;
  TransportErrorKind kind;
};

class CurlCodeMapping : public ::testing::TestWithParam<CodeCase> {};

TEST_P(CurlCodeMapping, MapsToKind) {
  EXPECT_EQ(kindForCurlCode(GetParam().code), GetParam().kind)
      << curl_easy_strerror(GetParam().code);
}

INSTANTIATE_TEST_SUITE_P(
    AllFamilies, CurlCodeMapping,
    ::testing::Values(CodeCase{CURLE_COULDNT_RESOLVE_HOST, TransportErrorKind::Resolve},
                      CodeCase{CURLE_COULDNT_RESOLVE_PROXY, TransportErrorKind::Resolve},
                      CodeCase{CURLE_COULDNT_CONNECT, TransportErrorKind::Connect},
                      CodeCase{CURLE_SSL_CONNECT_ERROR, TransportErrorKind::Tls},
                      CodeCase{CURLE_PEER_FAILED_VERIFICATION, TransportErrorKind::Tls},
                      CodeCase{CURLE_SSL_CACERT_BADFILE, TransportErrorKind::Tls},
                      CodeCase{CURLE_USE_SSL_FAILED, TransportErrorKind::Tls},
                      CodeCase{CURLE_SSL_PINNEDPUBKEYNOTMATCH, TransportErrorKind::Tls},
                      CodeCase{CURLE_OPERATION_TIMEDOUT, TransportErrorKind::Timeout},
                      CodeCase{CURLE_RECV_ERROR, TransportErrorKind::Reset},
                      CodeCase{CURLE_SEND_ERROR, TransportErrorKind::Reset},
                      CodeCase{CURLE_GOT_NOTHING, TransportErrorKind::Reset},
                      CodeCase{CURLE_PARTIAL_FILE, TransportErrorKind::Reset},
                      CodeCase{CURLE_HTTP2, TransportErrorKind::Reset},
                      CodeCase{CURLE_HTTP2_STREAM, TransportErrorKind::Reset},
                      CodeCase{CURLE_WEIRD_SERVER_REPLY, TransportErrorKind::Reset},
                      CodeCase{CURLE_FILESIZE_EXCEEDED, TransportErrorKind::TooLarge},
                      CodeCase{CURLE_WRITE_ERROR, TransportErrorKind::Local},
                      CodeCase{CURLE_URL_MALFORMAT, TransportErrorKind::Local},
                      CodeCase{CURLE_UNSUPPORTED_PROTOCOL, TransportErrorKind::Local},
                      CodeCase{CURLE_ABORTED_BY_CALLBACK, TransportErrorKind::Local},
                      CodeCase{CURLE_OUT_OF_MEMORY, TransportErrorKind::Local},
                      CodeCase{CURLE_LOGIN_DENIED, TransportErrorKind::Local}),
    [](const auto& info) { return "curle_" + std::to_string(static_cast<int>(info.param.code)); });

TEST(FailsBeforeSending, OnlyForFailuresBeforeTheRequestCanLeave) {
  EXPECT_TRUE(failsBeforeSending(TransportErrorKind::Resolve));
  EXPECT_TRUE(failsBeforeSending(TransportErrorKind::Connect));
  EXPECT_TRUE(failsBeforeSending(TransportErrorKind::Tls));
  EXPECT_FALSE(failsBeforeSending(TransportErrorKind::Timeout));
  EXPECT_FALSE(failsBeforeSending(TransportErrorKind::Reset));
  EXPECT_FALSE(failsBeforeSending(TransportErrorKind::TooLarge));
  EXPECT_FALSE(failsBeforeSending(TransportErrorKind::Local));
}

}  // namespace
}  // namespace omnigate::transport
