#include "channels/sms/sms_settings.h"

#include <boost/url/parse.hpp>
#include <charconv>

namespace omnigate::channels::sms {

Status checkSettings(const ProviderConfig& config, std::initializer_list<std::string_view> known,
                     std::initializer_list<std::string_view> prefixes) {
  for (const auto& [key, setting] : config.settings) {
    bool found = false;
    for (auto name : known) found = found || name == key;
    for (auto prefix : prefixes) {
      found = found || (key.size() > prefix.size() && key.compare(0, prefix.size(), prefix) == 0);
    }
    if (found) {
      if (setting.is_array) {
        return makeError("setting:" + key, key + " must be a single value, not a list");
      }
      continue;
    }
    std::string list;
    for (auto name : known) list += std::string(list.empty() ? "" : ", ") + std::string(name);
    for (auto prefix : prefixes) list += ", " + std::string(prefix) + "<category>";
    return makeError("setting:" + key, "unknown setting '" + key + "' for provider kind '" +
                                           config.kind + "' (known: " + list + ")");
  }
  return Ok{};
}

SenderIds SenderIds::fromConfig(const ProviderConfig& config, const std::string& key) {
  SenderIds ids;
  std::string prefix = key + "_";
  for (const auto& [name, setting] : config.settings) {
    if (name == key) {
      ids.default_ = setting.value;
    } else if (name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0) {
      ids.by_category_[name.substr(prefix.size())] = setting.value;
    }
  }
  return ids;
}

const std::string& SenderIds::forCategory(const std::string& category) const {
  auto it = by_category_.find(category);
  return it == by_category_.end() ? default_ : it->second;
}

Result<int> intSetting(const ProviderConfig& config, const std::string& key, int fallback, int low,
                       int high) {
  auto it = config.settings.find(key);
  if (it == config.settings.end()) return fallback;
  const std::string& text = it->second.value;
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < low || value > high) {
    return makeError("setting:" + key, key + " must be an integer from " + std::to_string(low) +
                                           " to " + std::to_string(high) + ", got '" + text + "'");
  }
  return value;
}

Result<int> maxSegmentsSetting(const ProviderConfig& config) {
  return intSetting(config, "max_segments", 10, 1, 255);
}

Result<SegmentCount> checkSegments(const std::string& text, int max_segments) {
  if (text.empty()) return makeError("empty_message", "an SMS needs a text");
  SegmentCount count = countSegments(text);
  if (count.segments > max_segments) {
    return makeError("too_many_segments",
                     "the text needs " + std::to_string(count.segments) + " " +
                         toString(count.encoding) + " segments (" + std::to_string(count.units) +
                         (count.encoding == SmsEncoding::Gsm7 ? " septets" : " UTF-16 units") +
                         "), more than max_segments = " + std::to_string(max_segments));
  }
  return count;
}

Status checkHttpUrl(const std::string& key, const std::string& url) {
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (url.empty() || !parsed || (parsed->scheme() != "http" && parsed->scheme() != "https") ||
      parsed->host().empty()) {
    return makeError("setting:" + key,
                     "`" + key + "` must be an absolute http(s) URL, got '" + url + "'");
  }
  return Ok{};
}

}  // namespace omnigate::channels::sms
