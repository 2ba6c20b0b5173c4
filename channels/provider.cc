#include "channels/provider.h"

namespace omnigate::channels {

const char* toString(TransportErrorKind kind) {
  switch (kind) {
    case TransportErrorKind::Resolve: return "resolve";
    case TransportErrorKind::Connect: return "connect";
    case TransportErrorKind::Tls: return "tls";
    case TransportErrorKind::Timeout: return "timeout";
    case TransportErrorKind::Reset: return "reset";
    case TransportErrorKind::TooLarge: return "too_large";
    case TransportErrorKind::Local: return "local";
  }
  return "unknown";
}

const char* toString(Disposition disposition) {
  switch (disposition) {
    case Disposition::Accepted: return "accepted";
    case Disposition::Retry: return "retry";
    case Disposition::RecipientDead: return "recipient_dead";
    case Disposition::OptedOut: return "opted_out";
    case Disposition::Rejected: return "rejected";
    case Disposition::Misconfigured: return "misconfigured";
  }
  return "unknown";
}

Verdict Provider::interpretFailure(const OutboundMessage&, const TransportFailure& failure) const {
  Verdict verdict;
  verdict.disposition = failure.kind == TransportErrorKind::Local ? Disposition::Rejected
                                                                  : Disposition::Retry;
  verdict.provider_code = toString(failure.kind);
  verdict.detail = failure.detail;
  return verdict;
}

Result<std::vector<StatusUpdate>> Provider::parseCallback(const InboundRequest&) const {
  return makeError("callbacks_unsupported", "this provider does not accept callbacks");
}

Result<Credential> CredentialSource::mint(std::int64_t) const {
  return makeError("unsupported", "this credential source does not mint locally");
}

Result<TransportRequest> CredentialSource::encodeTokenRequest(std::int64_t) const {
  return makeError("unsupported", "this credential source mints locally");
}

Result<Credential> CredentialSource::interpretTokenReply(const TransportReply&,
                                                         std::int64_t) const {
  return makeError("unsupported", "this credential source mints locally");
}

}  // namespace omnigate::channels
