#pragma once

// Parsing and validation of POST /v1/messages bodies. Everything a caller can get wrong is found
// here and reported with the field's path, before anything is stored.

#include <boost/json/value.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "daemon/common/duration.h"
#include "daemon/common/result.h"
#include "daemon/dispatch/payload.h"

namespace omnigate::api {

struct SendRequest {
  std::string customer_id;
  dispatch::MessagePayload payload;
  std::string template_id;
  std::string locale;
  std::vector<std::string> channels;  // as requested; empty = default order
  std::string category = "transactional";
  std::string strategy = "fallback";
  std::string priority = "normal";
  std::string dedupe_key;
  std::vector<std::string> cancel_keys;
  std::optional<SysTime> send_at;
  std::optional<Millis> ttl;
};

// Errors: code "invalid_json" (not parseable) or "invalid_request" (names the field).
// `to.phone` is normalized to E.164, national spellings read against `phone_region`.
Result<SendRequest> parseSendRequest(std::string_view body, boost::json::value* parsed = nullptr,
                                     std::string_view phone_region = {});

// Channels the message can use, in order: requested (or default) channels that have a contact,
// content and a configured provider. `content` is the inline content, or the template rendered
// for every channel. `trace` explains what was left out and why.
std::vector<std::string> planChannels(const SendRequest& request,
                                      const std::map<std::string, dispatch::ChannelContent>& content,
                                      const std::vector<std::string>& default_channels,
                                      const std::vector<std::string>& configured_channels,
                                      std::string* trace);

}  // namespace omnigate::api
