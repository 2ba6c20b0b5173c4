#include "daemon/transport/curl_errors.h"

namespace omnigate::transport {

using channels::TransportErrorKind;

TransportErrorKind kindForCurlCode(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return TransportErrorKind::Resolve;

    case CURLE_COULDNT_CONNECT:
    case CURLE_QUIC_CONNECT_ERROR:
      return TransportErrorKind::Connect;

    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
      return TransportErrorKind::Tls;

    case CURLE_OPERATION_TIMEDOUT:
      return TransportErrorKind::Timeout;

    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    // A peer that answers garbage is the destination's fault, like a dropped connection; calling
    // it Local would make providers reject the message for good.
    case CURLE_WEIRD_SERVER_REPLY:
      return TransportErrorKind::Reset;

    case CURLE_FILESIZE_EXCEEDED:
      return TransportErrorKind::TooLarge;

    default:
      return TransportErrorKind::Local;
  }
}

bool failsBeforeSending(TransportErrorKind kind) {
  return kind == TransportErrorKind::Resolve || kind == TransportErrorKind::Connect ||
         kind == TransportErrorKind::Tls;
}

}  // namespace omnigate::transport
