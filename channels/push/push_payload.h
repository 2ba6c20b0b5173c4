#pragma once

// Pieces both push providers share: the caller's push data, delivery options carried inside it,
// and small reply helpers.

#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "channels/provider.h"

namespace omnigate::channels::push {

// The caller's `data` with the delivery options it may carry taken out. A push message has no
// field of its own for a collapse key, so callers put one in `data` as "collapse_key" (FCM's
// name) or "collapse_id" (APNs' name); either works for both providers and neither reaches the
// device as data.
struct PushData {
  boost::json::object fields;
  std::string collapse_key;
};

// Empty text is an empty object; anything but a JSON object is an Error ("bad_data").
Result<PushData> parsePushData(const std::string& data_json);

// The value of the first header called `name`, compared case-insensitively.
std::optional<std::string> findHeader(const std::vector<Header>& headers, std::string_view name);

// A reply body excerpt that is safe to keep in an attempt record.
std::string bodyExcerpt(std::string_view body);

// Base URL setting without trailing slashes; an Error names `key` unless it is absolute http(s).
Result<std::string> baseUrlSetting(const ProviderConfig& config, const std::string& key,
                                   const std::string& fallback);

}  // namespace omnigate::channels::push
