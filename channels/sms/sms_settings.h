#pragma once

// Settings and checks every SMS provider kind shares: the sender per category, the segment cap,
// and the refusal of texts that would cost more than the admin allowed.

#include <initializer_list>
#include <map>
#include <string>
#include <string_view>

#include "channels/provider.h"
#include "channels/sms/segments.h"

namespace omnigate::channels::sms {

// Like checkKnownSettings, but also lets through any key starting with one of `prefixes`
// (e.g. "from_" for per-category senders).
Status checkSettings(const ProviderConfig& config, std::initializer_list<std::string_view> known,
                     std::initializer_list<std::string_view> prefixes);

// The sender (`from`) for each category, with a default for categories not listed.
class SenderIds {
 public:
  // Reads `<key>` as the default and `<key>_<category>` per category.
  static SenderIds fromConfig(const ProviderConfig& config, const std::string& key);

  const std::string& forCategory(const std::string& category) const;
  bool empty() const { return default_.empty() && by_category_.empty(); }
  bool hasDefault() const { return !default_.empty(); }
  const std::map<std::string, std::string>& byCategory() const { return by_category_; }

 private:
  std::string default_;
  std::map<std::string, std::string> by_category_;
};

// `max_segments`: 1..255 (the concatenation counter's range), default 10.
Result<int> maxSegmentsSetting(const ProviderConfig& config);

// The text's segment count, or an Error (code "too_many_segments") when it exceeds the cap.
Result<SegmentCount> checkSegments(const std::string& text, int max_segments);

// An integer setting within [low, high], or `fallback` when absent.
Result<int> intSetting(const ProviderConfig& config, const std::string& key, int fallback, int low,
                       int high);

// An absolute http(s) URL, or an Error naming the key.
Status checkHttpUrl(const std::string& key, const std::string& url);

}  // namespace omnigate::channels::sms
