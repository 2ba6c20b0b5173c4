#include "channels/generic/message_json.h"

#include <algorithm>
#include <boost/json.hpp>

namespace omnigate::channels {
namespace {

void putIfPresent(boost::json::object& out, const char* key, const std::string& value) {
  if (!value.empty()) out[key] = value;
}

void putJsonIfPresent(boost::json::object& out, const char* key, const std::string& json_text) {
  if (json_text.empty()) return;
  boost::system::error_code ec;
  auto value = boost::json::parse(json_text, ec);
  if (!ec) out[key] = std::move(value);
}

}  // namespace

std::string messageToJson(const OutboundMessage& message) {
  boost::json::object out;
  out["id"] = message.id;
  out["channel"] = message.channel;
  out["category"] = message.category;
  out["attempt"] = message.attempt;
  out["to"] = message.recipient;
  putIfPresent(out, "platform", message.recipient_platform);
  putIfPresent(out, "subject", message.subject);
  putIfPresent(out, "title", message.title);
  putIfPresent(out, "text", message.text);
  putIfPresent(out, "html", message.html);
  putJsonIfPresent(out, "data", message.data_json);
  putJsonIfPresent(out, "metadata", message.metadata_json);
  return boost::json::serialize(out);
}

Status checkKnownSettings(const ProviderConfig& config,
                          std::initializer_list<std::string_view> known,
                          std::initializer_list<std::string_view> lists) {
  for (const auto& [key, setting] : config.settings) {
    bool found = false;
    for (auto k : known) found = found || k == key;
    if (!found) {
      std::string list;
      for (auto k : known) list += std::string(list.empty() ? "" : ", ") + std::string(k);
      return makeError("setting:" + key, "unknown setting '" + key + "' for provider kind '" +
                                             config.kind + "' (known: " + list + ")");
    }
    if (setting.is_array && std::find(lists.begin(), lists.end(), key) == lists.end()) {
      return makeError("setting:" + key, key + " must be a single value, not a list");
    }
  }
  return Ok{};
}

std::string settingOr(const ProviderConfig& config, const std::string& key,
                      const std::string& fallback) {
  auto it = config.settings.find(key);
  return it == config.settings.end() ? fallback : it->second.value;
}

Result<bool> boolSetting(const ProviderConfig& config, const std::string& key, bool fallback) {
  auto it = config.settings.find(key);
  if (it == config.settings.end()) return fallback;
  if (it->second.value == "true") return true;
  if (it->second.value == "false") return false;
  return makeError("setting:" + key, key + " must be true or false");
}

}  // namespace omnigate::channels
