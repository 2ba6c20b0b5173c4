#include "channels/generic/outbox_provider.h"

#include "channels/generic/message_json.h"

namespace omnigate::channels {
namespace {

class OutboxProvider final : public Provider {
 public:
  explicit OutboxProvider(std::string dir) : dir_(std::move(dir)) {}

  Result<TransportRequest> encode(const OutboundMessage& message) const override {
    TransportRequest request;
    request.what = FileWrite{dir_ + "/" + message.channel + "/" + message.id + ".json",
                             messageToJson(message) + "\n"};
    return request;
  }

  Verdict interpret(const OutboundMessage&, const TransportReply&) const override {
    Verdict verdict;
    verdict.disposition = Disposition::Accepted;
    verdict.provider_code = "written";
    return verdict;
  }

  Verdict interpretFailure(const OutboundMessage&, const TransportFailure& failure) const override {
    // A full or read-only disk is usually fixed by an operator: keep the message and retry.
    Verdict verdict;
    verdict.disposition = Disposition::Retry;
    verdict.provider_code = toString(failure.kind);
    verdict.detail = failure.detail;
    return verdict;
  }

 private:
  std::string dir_;
};

}  // namespace

Result<ProviderPtr> makeOutboxProvider(const ProviderConfig& config) {
  if (auto known = checkKnownSettings(config, {"dir"}); !known) return known.error();
  std::string dir = settingOr(config, "dir");
  if (dir.empty()) return makeError("setting:dir", "an outbox provider needs `dir`");
  return ProviderPtr(std::make_unique<OutboxProvider>(dir));
}

}  // namespace omnigate::channels
