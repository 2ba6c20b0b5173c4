// An out-of-tree provider plugin, built as its own shared object (target
// omnigate_example_plugin) and loaded with
//
//   [plugins]
//   load = ["/usr/lib/omnigate/plugins/omnigate_example_plugin.so"]
//
// It adds the kind "example_form_sms": an SMS gateway that takes a form POST
// (to=<E.164>&text=<text>&ref=<message id>) and answers "OK <id>" on success, "BUSY" when it
// wants the message again later, and "ERR <reason>" when it refuses it. Like every provider it is
// sans-I/O: it only builds the request and reads the answer.

#include <string>

#include "channels/plugin_abi.h"

namespace {

using namespace omnigate;
using namespace omnigate::channels;

std::string formEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

class FormSmsProvider final : public Provider {
 public:
  FormSmsProvider(std::string url, bool allow_private)
      : url_(std::move(url)), allow_private_(allow_private) {}

  Result<TransportRequest> encode(const OutboundMessage& message) const override {
    if (message.channel != "sms") {
      return makeError("wrong_channel", "example_form_sms only sends SMS");
    }
    HttpRequest request;
    request.url = url_;
    request.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
    request.body = "to=" + formEncode(message.recipient) + "&text=" + formEncode(message.text) +
                   "&ref=" + formEncode(message.id);
    request.refuse_private_destinations = !allow_private_;
    return TransportRequest{request, std::chrono::seconds(10)};
  }

  Verdict interpret(const OutboundMessage&, const TransportReply& reply) const override {
    Verdict verdict;
    verdict.provider_code = std::to_string(reply.status);
    verdict.detail = reply.body.substr(0, 200);
    if (reply.status == 200 && reply.body.rfind("OK ", 0) == 0) {
      verdict.disposition = Disposition::Accepted;
      verdict.provider_message_id = reply.body.substr(3, reply.body.find_first_of("\r\n") - 3);
    } else if (reply.status == 200 && reply.body.rfind("ERR", 0) == 0) {
      verdict.disposition = Disposition::Rejected;
    } else {
      verdict.disposition = Disposition::Retry;
      verdict.retry_after = reply.retry_after;
    }
    return verdict;
  }

 private:
  std::string url_;
  bool allow_private_;
};

Result<ProviderPtr> makeFormSmsProvider(const ProviderConfig& config) {
  std::string url;
  bool allow_private = false;
  for (const auto& [key, setting] : config.settings) {
    if (key == "url") {
      url = setting.value;
    } else if (key == "allow_private") {
      if (setting.value != "true" && setting.value != "false") {
        return makeError("setting:allow_private", "must be true or false");
      }
      allow_private = setting.value == "true";
    } else {
      return makeError("setting:" + key, "is not a setting of example_form_sms (url, allow_private)");
    }
  }
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    return makeError("setting:url", "must be an http:// or https:// URL");
  }
  return ProviderPtr(std::make_unique<FormSmsProvider>(url, allow_private));
}

constexpr OmnigateProviderKind kKinds[] = {{"example_form_sms", &makeFormSmsProvider}};
constexpr OmnigatePlugin kPlugin = {kOmnigatePluginAbiVersion, "omnigate example plugin", kKinds, 1};

}  // namespace

extern "C" __attribute__((visibility("default"))) const OmnigatePlugin* omnigate_plugin_entry() {
  return &kPlugin;
}
