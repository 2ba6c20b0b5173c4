#include "daemon/api/customer_json.h"

#include <date/tz.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdint>
#include <exception>
#include <limits>
#include <optional>

#include "channels/sms/phone_number.h"
#include "daemon/api/field_reader.h"

namespace omnigate::api {
namespace json = boost::json;

namespace {

constexpr std::size_t kMaxIdLength = 200;
constexpr std::size_t kMaxPushTokens = 32;
constexpr std::size_t kMaxOptOuts = 256;
constexpr std::size_t kMaxCategoryLength = 64;
constexpr int kMinutesPerDay = 24 * 60;
constexpr std::int64_t kStorageVersion = 1;

constexpr std::string_view kChannelNames[] = {policy::kEmail, policy::kSms, policy::kPush,
                                              policy::kMessenger};

bool isChannelName(std::string_view name) {
  return std::find(std::begin(kChannelNames), std::end(kChannelNames), name) !=
         std::end(kChannelNames);
}

bool hasControlCharacter(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
}

bool isCustomerId(std::string_view id) {
  return !id.empty() && id.size() <= kMaxIdLength && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '@' || c == '-';
  });
}

bool isCategoryName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxCategoryLength &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
         });
}

// "ru", "pt-BR", "en_US": what template variants are named by.
bool isLocale(std::string_view locale) {
  return std::all_of(locale.begin(), locale.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

bool isKnownTimeZone(const std::string& name) {
  try {
    return date::locate_zone(name) != nullptr;
  } catch (const std::exception&) {
    // Unknown names and an unreadable zone database both land here; either way the name cannot
    // be used, and accepting it would silently mean UTC.
    return false;
  }
}

// "marketing", "sms" or "marketing:email" (policy.h, CustomerProfile::opt_out).
bool isOptOutEntry(std::string_view entry) {
  auto colon = entry.find(':');
  if (colon == std::string_view::npos) return isChannelName(entry) || isCategoryName(entry);
  return isCategoryName(entry.substr(0, colon)) && isChannelName(entry.substr(colon + 1));
}

void readContacts(FieldReader& r, const json::object& object, policy::Contacts& contacts,
                  std::string_view phone_region) {
  if (!r.checkKnown(object, "contacts.", {"email", "phone", "push", "telegram"})) return;
  if (r.string(object, "email", "contacts.email", contacts.email, 254) && contacts.email &&
      !looksLikeEmail(*contacts.email)) {
    r.fail("contacts.email", "is not an email address");
  }
  if (r.string(object, "phone", "contacts.phone", contacts.phone, 64) && contacts.phone) {
    auto normalized = channels::sms::normalizePhoneNumber(*contacts.phone, phone_region);
    if (normalized) {
      contacts.phone = std::move(normalized.value());
    } else {
      r.fail("contacts.phone", normalized.error().message);
    }
  }
  if (r.string(object, "telegram", "contacts.telegram", contacts.telegram, 64) &&
      contacts.telegram && hasControlCharacter(*contacts.telegram)) {
    r.fail("contacts.telegram", "must not contain control characters");
  }
  const json::array* push = r.array(object, "push", "contacts.push", kMaxPushTokens);
  if (!push) return;
  for (std::size_t i = 0; i < push->size(); ++i) {
    std::string path = "contacts.push[" + std::to_string(i) + "]";
    const auto& item = (*push)[i];
    if (!item.is_object()) {
      r.fail(path, "must be an object with \"platform\" and \"token\"");
      return;
    }
    const auto& o = item.as_object();
    if (!r.checkKnown(o, path + ".", {"platform", "token"})) return;
    std::optional<std::string> platform;
    std::optional<std::string> token;
    if (!r.string(o, "platform", path + ".platform", platform, 16)) return;
    if (platform != "fcm" && platform != "apns") {
      r.fail(path + ".platform", "must be \"fcm\" or \"apns\"");
      return;
    }
    if (!r.string(o, "token", path + ".token", token, 4096)) return;
    if (!token) {
      r.fail(path + ".token", "is required");
      return;
    }
    if (hasControlCharacter(*token)) {
      r.fail(path + ".token", "must not contain control characters");
      return;
    }
    bool repeated = std::any_of(contacts.push.begin(), contacts.push.end(),
                                [&token](const auto& p) { return p.token == *token; });
    if (repeated) {
      r.fail(path + ".token", "is listed twice");
      return;
    }
    contacts.push.push_back({std::move(*platform), std::move(*token)});
  }
}

void readPreferences(FieldReader& r, const json::object& object, policy::CustomerProfile& profile) {
  if (!r.checkKnown(object, "preferences.", {"channels", "opt_out", "quiet_hours"})) return;
  if (const json::array* channels = r.array(object, "channels", "preferences.channels", 4)) {
    for (std::size_t i = 0; i < channels->size(); ++i) {
      std::string path = "preferences.channels[" + std::to_string(i) + "]";
      const auto& item = (*channels)[i];
      if (!item.is_string() || !isChannelName(item.as_string())) {
        r.fail(path, "must be one of \"email\", \"sms\", \"push\", \"messenger\"");
        return;
      }
      std::string channel(item.as_string());
      if (std::count(profile.preferred_channels.begin(), profile.preferred_channels.end(),
                     channel) > 0) {
        r.fail(path, "names '" + channel + "' twice");
        return;
      }
      profile.preferred_channels.push_back(std::move(channel));
    }
  }
  if (const json::array* opt_out = r.array(object, "opt_out", "preferences.opt_out", kMaxOptOuts)) {
    for (std::size_t i = 0; i < opt_out->size(); ++i) {
      std::string path = "preferences.opt_out[" + std::to_string(i) + "]";
      const auto& item = (*opt_out)[i];
      if (!item.is_string() || !isOptOutEntry(item.as_string())) {
        r.fail(path,
               "must be a category (lower-case letters, digits, '_' or '-'), a channel (email, "
               "sms, push, messenger) or \"category:channel\"");
        return;
      }
      profile.opt_out.emplace(item.as_string());
    }
  }
  if (const json::object* quiet = r.object(object, "quiet_hours", "preferences.quiet_hours")) {
    if (!r.checkKnown(*quiet, "preferences.quiet_hours.", {"start", "end"})) return;
    std::optional<std::string> start;
    std::optional<std::string> end;
    if (!r.string(*quiet, "start", "preferences.quiet_hours.start", start, 5)) return;
    if (!r.string(*quiet, "end", "preferences.quiet_hours.end", end, 5)) return;
    if (!start) {
      r.fail("preferences.quiet_hours.start", "is required");
      return;
    }
    if (!end) {
      r.fail("preferences.quiet_hours.end", "is required");
      return;
    }
    auto hours = policy::parseQuietHours(*start, *end);
    if (!hours) {
      r.fail("preferences.quiet_hours", hours.error().message);
      return;
    }
    profile.quiet_hours = *hours;
  }
}

json::array stringArray(const auto& strings) {
  json::array out;
  out.reserve(strings.size());
  for (const auto& s : strings) out.emplace_back(s);
  return out;
}

json::array pushToJson(const std::vector<policy::PushToken>& tokens) {
  json::array out;
  out.reserve(tokens.size());
  for (const auto& p : tokens) {
    out.push_back(json::object{{"platform", p.platform}, {"token", p.token}});
  }
  return out;
}

json::object quietHoursToJson(const policy::QuietHours& hours) {
  std::string text = policy::formatQuietHours(hours);  // "HH:MM-HH:MM"
  auto dash = text.find('-');
  return {{"start", text.substr(0, dash)}, {"end", text.substr(dash + 1)}};
}

json::object statsToJson(const std::map<std::string, policy::ChannelStats>& stats) {
  json::object out;
  for (const auto& [channel, s] : stats) {
    out[channel] = {{"attempts", s.attempts}, {"delivered", s.delivered}, {"read", s.read}};
  }
  return out;
}

// Reading the storage forms. Anything that is not what profileToStorage/stateToStorage write is
// corruption: a field of the wrong type would otherwise silently become a default.
class StoredReader {
 public:
  explicit StoredReader(std::string_view what) : what_(what) {}

  bool ok() const { return !error_; }
  Error error() const { return *error_; }

  bool fail(const std::string& why) {
    if (!error_) error_ = makeError("corrupt_customer", "stored " + what_ + " is corrupt: " + why);
    return false;
  }

  const json::value* find(const json::object& object, std::string_view key) {
    auto it = object.find(key);
    return it == object.end() ? nullptr : &it->value();
  }

  void string(const json::object& object, std::string_view key, std::string& out) {
    const json::value* v = find(object, key);
    if (!v) return;
    if (!v->is_string()) {
      fail(std::string(key) + " is not a string");
      return;
    }
    out.assign(v->as_string().begin(), v->as_string().end());
  }

  void optionalString(const json::object& object, std::string_view key,
                      std::optional<std::string>& out) {
    if (!find(object, key)) return;
    string(object, key, out.emplace());
  }

  std::string requiredString(const json::object& object, std::string_view key) {
    std::string out;
    if (!find(object, key)) {
      fail(std::string(key) + " is missing");
    } else {
      string(object, key, out);
    }
    return out;
  }

  std::int64_t integer(const json::object& object, std::string_view key) {
    const json::value* v = find(object, key);
    if (!v) {
      fail(std::string(key) + " is missing");
      return 0;
    }
    if (v->is_int64()) return v->as_int64();
    if (v->is_uint64() &&
        v->as_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return static_cast<std::int64_t>(v->as_uint64());
    }
    fail(std::string(key) + " is not a 64-bit integer");
    return 0;
  }

  const json::object* object(const json::object& parent, std::string_view key) {
    const json::value* v = find(parent, key);
    if (!v) return nullptr;
    if (!v->is_object()) {
      fail(std::string(key) + " is not an object");
      return nullptr;
    }
    return &v->as_object();
  }

  const json::array* array(const json::object& parent, std::string_view key) {
    const json::value* v = find(parent, key);
    if (!v) return nullptr;
    if (!v->is_array()) {
      fail(std::string(key) + " is not an array");
      return nullptr;
    }
    return &v->as_array();
  }

  template <class Container>
  void strings(const json::object& parent, std::string_view key, Container& out) {
    const json::array* items = array(parent, key);
    if (!items) return;
    for (const auto& item : *items) {
      if (!item.is_string()) {
        fail(std::string(key) + " holds a non-string");
        return;
      }
      out.insert(out.end(), std::string(item.as_string()));
    }
  }

  // Parses `text` as a JSON object of a version this build reads.
  std::optional<json::object> root(std::string_view text) {
    boost::system::error_code ec;
    json::value value = json::parse(text, ec);
    if (ec) {
      fail("not JSON (" + ec.message() + ")");
      return std::nullopt;
    }
    if (!value.is_object()) {
      fail("not a JSON object");
      return std::nullopt;
    }
    auto version = integer(value.as_object(), "v");
    if (!ok()) return std::nullopt;
    if (version != kStorageVersion) {
      fail("version " + std::to_string(version) + " is not one this build reads");
      return std::nullopt;
    }
    return std::move(value.as_object());
  }

 private:
  std::string what_;
  std::optional<Error> error_;
};

}  // namespace

Result<policy::CustomerProfile> parseCustomerProfile(std::string_view id, std::string_view body,
                                                     std::string_view phone_region) {
  if (!isCustomerId(id)) {
    return makeError("invalid_request",
                     "id must be 1 to 200 characters of A-Z, a-z, 0-9, '.', '_', ':', '@' or '-'");
  }
  boost::system::error_code ec;
  json::parse_options options;
  options.max_depth = 32;
  json::value root_value = json::parse(body, ec, {}, options);
  if (ec) return makeError("invalid_json", "the body is not valid JSON: " + ec.message());
  if (!root_value.is_object()) {
    return makeError("invalid_request", "the body must be a JSON object");
  }
  const auto& root = root_value.as_object();

  std::optional<Error> error;
  FieldReader r(error);
  policy::CustomerProfile profile;
  profile.id = std::string(id);
  r.checkKnown(root, "", {"contacts", "preferences", "timezone", "locale"});
  if (auto* contacts = r.object(root, "contacts", "contacts")) {
    readContacts(r, *contacts, profile.contacts, phone_region);
  }
  if (auto* preferences = r.object(root, "preferences", "preferences")) {
    readPreferences(r, *preferences, profile);
  }
  std::optional<std::string> timezone;
  if (r.string(root, "timezone", "timezone", timezone, 64) && timezone) {
    if (!isKnownTimeZone(*timezone)) {
      r.fail("timezone",
             "'" + *timezone + "' is not a known IANA time zone (like \"Europe/Moscow\")");
    } else {
      profile.timezone = std::move(*timezone);
    }
  }
  std::optional<std::string> locale;
  if (r.string(root, "locale", "locale", locale, 35) && locale) {
    if (!isLocale(*locale)) {
      r.fail("locale", "must be letters, digits, '-' or '_' (like \"ru\" or \"pt-BR\")");
    } else {
      profile.locale = std::move(*locale);
    }
  }
  if (error) return *error;
  return profile;
}

json::object customerProfileToJson(const policy::CustomerProfile& profile) {
  const auto& c = profile.contacts;
  json::object contacts;
  if (c.email) contacts["email"] = *c.email;
  if (c.phone) contacts["phone"] = *c.phone;
  if (!c.push.empty()) contacts["push"] = pushToJson(c.push);
  if (c.telegram) contacts["telegram"] = *c.telegram;

  json::object preferences;
  preferences["channels"] = stringArray(profile.preferred_channels);
  preferences["opt_out"] = stringArray(profile.opt_out);
  if (profile.quiet_hours) preferences["quiet_hours"] = quietHoursToJson(*profile.quiet_hours);

  json::object out;
  out["id"] = profile.id;
  out["contacts"] = std::move(contacts);
  out["preferences"] = std::move(preferences);
  if (!profile.timezone.empty()) out["timezone"] = profile.timezone;
  if (!profile.locale.empty()) out["locale"] = profile.locale;
  out["invalid_contacts"] = stringArray(c.invalid);  // a std::set: already sorted
  if (!profile.stats.empty()) out["stats"] = statsToJson(profile.stats);
  return out;
}

std::string profileToStorage(const policy::CustomerProfile& profile) {
  const auto& c = profile.contacts;
  json::object contacts;
  if (c.email) contacts["email"] = *c.email;
  if (c.phone) contacts["phone"] = *c.phone;
  if (c.telegram) contacts["telegram"] = *c.telegram;
  contacts["push"] = pushToJson(c.push);
  contacts["invalid"] = stringArray(c.invalid);

  json::object out;
  out["v"] = kStorageVersion;
  out["id"] = profile.id;
  out["contacts"] = std::move(contacts);
  out["channels"] = stringArray(profile.preferred_channels);
  out["opt_out"] = stringArray(profile.opt_out);
  if (profile.quiet_hours) {
    out["quiet_hours"] = {{"start_minute", profile.quiet_hours->start_minute},
                          {"end_minute", profile.quiet_hours->end_minute}};
  }
  out["timezone"] = profile.timezone;
  out["locale"] = profile.locale;
  out["stats"] = statsToJson(profile.stats);
  return json::serialize(out);
}

Result<policy::CustomerProfile> profileFromStorage(std::string_view text) {
  StoredReader r("customer profile");
  auto root = r.root(text);
  if (!root) return r.error();
  policy::CustomerProfile profile;
  profile.id = r.requiredString(*root, "id");
  if (const json::object* contacts = r.object(*root, "contacts")) {
    auto& c = profile.contacts;
    r.optionalString(*contacts, "email", c.email);
    r.optionalString(*contacts, "phone", c.phone);
    r.optionalString(*contacts, "telegram", c.telegram);
    if (const json::array* push = r.array(*contacts, "push")) {
      for (const auto& item : *push) {
        if (!item.is_object()) {
          r.fail("push holds a non-object");
          break;
        }
        policy::PushToken token;
        token.platform = r.requiredString(item.as_object(), "platform");
        token.token = r.requiredString(item.as_object(), "token");
        c.push.push_back(std::move(token));
      }
    }
    r.strings(*contacts, "invalid", c.invalid);
  }
  r.strings(*root, "channels", profile.preferred_channels);
  r.strings(*root, "opt_out", profile.opt_out);
  if (const json::object* quiet = r.object(*root, "quiet_hours")) {
    policy::QuietHours hours;
    auto start = r.integer(*quiet, "start_minute");
    auto end = r.integer(*quiet, "end_minute");
    if (start < 0 || start >= kMinutesPerDay || end < 0 || end >= kMinutesPerDay) {
      r.fail("quiet_hours is outside 00:00 to 23:59");
    }
    hours.start_minute = static_cast<int>(start);
    hours.end_minute = static_cast<int>(end);
    profile.quiet_hours = hours;
  }
  r.string(*root, "timezone", profile.timezone);
  r.string(*root, "locale", profile.locale);
  if (const json::object* stats = r.object(*root, "stats")) {
    for (const auto& [channel, value] : *stats) {
      if (!value.is_object()) {
        r.fail("stats." + std::string(channel) + " is not an object");
        break;
      }
      policy::ChannelStats s;
      s.attempts = r.integer(value.as_object(), "attempts");
      s.delivered = r.integer(value.as_object(), "delivered");
      s.read = r.integer(value.as_object(), "read");
      profile.stats[std::string(channel)] = s;
    }
  }
  if (!r.ok()) return r.error();
  return profile;
}

std::string stateToStorage(const policy::CustomerState& state) {
  json::array sends;
  sends.reserve(state.sends.size());
  for (const auto& s : state.sends) {
    sends.push_back(json::object{{"at", toUnixMillis(s.at)},
                                 {"category", s.category},
                                 {"channel", s.channel},
                                 {"message_id", s.message_id}});
  }
  json::array dedupe;
  dedupe.reserve(state.dedupe.size());
  for (const auto& d : state.dedupe) {
    dedupe.push_back(
        json::object{{"key", d.key}, {"at", toUnixMillis(d.at)}, {"message_id", d.message_id}});
  }
  json::object out;
  out["v"] = kStorageVersion;
  out["sends"] = std::move(sends);
  out["dedupe"] = std::move(dedupe);
  return json::serialize(out);
}

Result<policy::CustomerState> stateFromStorage(std::string_view text) {
  policy::CustomerState state;
  if (text.empty()) return state;
  StoredReader r("customer policy state");
  auto root = r.root(text);
  if (!root) return r.error();
  if (const json::array* sends = r.array(*root, "sends")) {
    for (const auto& item : *sends) {
      if (!item.is_object()) {
        r.fail("sends holds a non-object");
        break;
      }
      const auto& o = item.as_object();
      policy::SendRecord record;
      record.at = fromUnixMillis(r.integer(o, "at"));
      record.category = r.requiredString(o, "category");
      record.channel = r.requiredString(o, "channel");
      record.message_id = r.requiredString(o, "message_id");
      state.sends.push_back(std::move(record));
    }
  }
  if (const json::array* dedupe = r.array(*root, "dedupe")) {
    for (const auto& item : *dedupe) {
      if (!item.is_object()) {
        r.fail("dedupe holds a non-object");
        break;
      }
      const auto& o = item.as_object();
      policy::DedupeRecord record;
      record.key = r.requiredString(o, "key");
      record.at = fromUnixMillis(r.integer(o, "at"));
      record.message_id = r.requiredString(o, "message_id");
      state.dedupe.push_back(std::move(record));
    }
  }
  if (!r.ok()) return r.error();
  return state;
}

std::vector<std::pair<std::string, std::string>> contactKeys(const policy::Contacts& contacts) {
  std::vector<std::pair<std::string, std::string>> keys;
  if (contacts.email && !contacts.email->empty()) {
    std::string lower = *contacts.email;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) {
      return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    });
    keys.emplace_back("email", std::move(lower));
  }
  if (contacts.phone && !contacts.phone->empty()) keys.emplace_back("phone", *contacts.phone);
  if (contacts.telegram && !contacts.telegram->empty()) {
    keys.emplace_back("telegram", *contacts.telegram);
  }
  for (const auto& p : contacts.push) {
    if (p.token.empty()) continue;
    std::pair<std::string, std::string> key("push", p.token);
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(std::move(key));
  }
  return keys;
}

}  // namespace omnigate::api
