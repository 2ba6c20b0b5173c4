#pragma once

// Helpers the SMS and messenger provider tests share.

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <variant>

#include "channels/provider.h"
#include "channels/sms/wire_format.h"

namespace omnigate::channels::testing {

using SettingMap = std::map<std::string, std::string>;

// `base` with `changes` applied; an empty value in `changes` removes the key.
inline ProviderConfig makeConfig(const std::string& kind, SettingMap base,
                                 const SettingMap& changes = {}) {
  for (const auto& [key, value] : changes) {
    if (value.empty()) {
      base.erase(key);
    } else {
      base[key] = value;
    }
  }
  ProviderConfig config;
  config.name = kind + "-main";
  config.kind = kind;
  int line = 1;
  for (auto& [key, value] : base) config.settings[key] = Setting{value, {}, false, line++};
  return config;
}

template <class Factory>
ProviderPtr mustMake(Factory factory, const ProviderConfig& config) {
  auto provider = factory(config);
  if (!provider.ok()) {
    ADD_FAILURE() << provider.error().code << ": " << provider.error().message;
    return nullptr;
  }
  return std::move(provider.value());
}

inline OutboundMessage textMessage(const std::string& channel, const std::string& recipient,
                                   const std::string& text) {
  OutboundMessage message;
  message.id = "01J9ZQ4N3V6Y7W8X9A0B1C2D3E";
  message.channel = channel;
  message.category = "transactional";
  message.now_unix_ms = 1700000000123;
  message.recipient = recipient;
  message.text = text;
  return message;
}

// A copy, so that `http(provider->encode(...))` never dangles; an Error fails the test.
inline HttpRequest http(const Result<TransportRequest>& request) {
  if (!request.ok()) {
    ADD_FAILURE() << "encode failed: " << request.error().code << ": " << request.error().message;
    return {};
  }
  return std::get<HttpRequest>(request.value().what);
}

inline std::string header(const HttpRequest& request, const std::string& name) {
  return std::string(wire::headerValue(request.headers, name));
}

inline std::map<std::string, std::string> formMap(std::string_view body) {
  std::map<std::string, std::string> out;
  auto fields = wire::formDecode(body);
  EXPECT_TRUE(fields.ok());
  if (!fields) return out;
  for (auto& [key, value] : fields.value()) {
    EXPECT_EQ(out.count(key), 0u) << "duplicate field " << key;
    out[key] = value;
  }
  return out;
}

inline TransportReply reply(long status, std::string body,
                            std::optional<std::chrono::seconds> retry_after = std::nullopt) {
  TransportReply out;
  out.status = status;
  out.body = std::move(body);
  out.retry_after = retry_after;
  return out;
}

}  // namespace omnigate::channels::testing
