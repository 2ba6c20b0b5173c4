#pragma once

#include <string>

#include "channels/provider.h"

namespace omnigate::channels {

// The JSON document the generic providers (webhook, outbox) emit for one message:
// {"id","channel","category","attempt","to","platform"?,"subject"?,"text"?,"html"?,"title"?,
//  "data"?,"metadata"?}; absent parts are left out.
std::string messageToJson(const OutboundMessage& message);

// Rejects settings a provider does not know, naming the first one (code "setting:<key>"), and
// lists (`key = ["a", "b"]`) for every key not named in `lists`.
Status checkKnownSettings(const ProviderConfig& config,
                          std::initializer_list<std::string_view> known,
                          std::initializer_list<std::string_view> lists = {});

// The text value of a setting, or `fallback` when absent.
std::string settingOr(const ProviderConfig& config, const std::string& key,
                      const std::string& fallback = "");

Result<bool> boolSetting(const ProviderConfig& config, const std::string& key, bool fallback);

}  // namespace omnigate::channels
