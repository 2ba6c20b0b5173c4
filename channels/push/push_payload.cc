#include "channels/push/push_payload.h"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include "channels/generic/message_json.h"

namespace omnigate::channels::push {
namespace {

bool equalsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] - 'A' + 'a') : b[i];
    if (x != y) return false;
  }
  return true;
}

}  // namespace

Result<PushData> parsePushData(const std::string& data_json) {
  PushData data;
  if (data_json.empty()) return data;
  boost::system::error_code ec;
  auto value = boost::json::parse(data_json, ec);
  if (ec || !value.is_object()) return makeError("bad_data", "push data must be a JSON object");
  data.fields = std::move(value.as_object());
  for (const char* key : {"collapse_key", "collapse_id"}) {
    auto it = data.fields.find(key);
    if (it == data.fields.end()) continue;
    if (data.collapse_key.empty()) {
      data.collapse_key = it->value().is_string() ? std::string(it->value().as_string())
                                                  : boost::json::serialize(it->value());
    }
    data.fields.erase(it);
  }
  return data;
}

std::optional<std::string> findHeader(const std::vector<Header>& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (equalsIgnoringCase(key, name)) return value;
  }
  return std::nullopt;
}

std::string bodyExcerpt(std::string_view body) {
  constexpr std::size_t kMax = 200;
  std::string out(body.substr(0, kMax));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return body.size() > kMax ? out + "..." : out;
}

Result<std::string> baseUrlSetting(const ProviderConfig& config, const std::string& key,
                                   const std::string& fallback) {
  std::string url = settingOr(config, key, fallback);
  while (!url.empty() && url.back() == '/') url.pop_back();
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed || (parsed->scheme() != "https" && parsed->scheme() != "http") ||
      parsed->host().empty() || parsed->has_query() || parsed->has_fragment()) {
    return makeError("setting:" + key,
                     key + " must be an absolute http(s) URL without query, got '" + url + "'");
  }
  return url;
}

}  // namespace omnigate::channels::push
