// Provider replies and callbacks: bytes that come from the network (a provider, or anybody who
// can reach /v1/callbacks/{provider}). Each built-in provider is built once from a minimal valid
// config, then fed replies, transport failures, callbacks, messages to encode and token replies.
//
// Input: a first line whose first byte picks the provider (byte % 12: '0'..'9', ':' and ';') and
// whose second byte picks the operation (byte % 6: '0'..'5'); then fields separated by "\n%%\n":
//   '0' interpret          status, HTTP version, headers ("Name: value" lines), body,
//                          Retry-After seconds (empty: none)
//   '1' interpretFailure   kind (0-6), request may have been sent (0/1), detail
//   '2' parseCallback      method, URL, headers, body; sent as it is (unsigned)
//   '3' parseCallback      the same, signed by the harness the way the provider checks
//                          (Twilio, WhatsApp, Kannel), to reach the parsers behind the check
//   '4' encode             recipient, subject, title, text, html, data JSON, metadata JSON,
//                          category, locale, recipient platform, credential, attempt, now (ms)
//   '5' credentials        token-endpoint status, body, now (ms): FCM's interpretTokenReply,
//                          APNs' locally minted JWT
// The corpus README lists which first byte is which provider.

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "channels/provider.h"
#include "channels/registry.h"
#include "channels/sms/wire_format.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/json_support.h"
#include "tests/unit/channels/push/test_keys.h"

namespace {

namespace ch = omnigate::channels;
namespace wire = omnigate::channels::wire;
using omnigate::fuzz::leadingNumber;

constexpr char kTwilioToken[] = "tw-secret-token";
constexpr char kKannelSecret[] = "kannel-pass";
constexpr char kWhatsappSecret[] = "wa-app-secret";

struct Fixture {
  std::string label;
  std::string channel;    // what encode() is given
  std::string recipient;  // a valid recipient for interpret()
  std::string platform;
  ch::ProviderPtr provider;
};

ch::ProviderConfig configOf(const std::string& name, const std::string& kind,
                            const std::vector<std::pair<std::string, std::string>>& settings) {
  ch::ProviderConfig config;
  config.name = name;
  config.kind = kind;
  int line = 1;
  for (const auto& [key, value] : settings)
    config.settings[key] = ch::Setting{value, {}, false, line++};
  return config;
}

std::string serviceAccountJson() {
  boost::json::object account{{"type", "service_account"},
                              {"project_id", "shop-app"},
                              {"private_key_id", "a1b2c3d4"},
                              {"private_key", ch::push::testing::rsaKey().private_pem},
                              {"client_email", "gw@shop-app.iam.gserviceaccount.com"},
                              {"token_uri", "https://oauth2.googleapis.com/token"}};
  return boost::json::serialize(account);
}

std::vector<Fixture> buildFixtures() {
  ch::ProviderRegistry registry;
  ch::registerBuiltinProviders(registry);
  struct Spec {
    std::string label, channel, recipient, platform;
    ch::ProviderConfig config;
  };
  std::vector<Spec> specs;
  auto smtp = configOf("smtp-main", "smtp",
                       {{"url", "smtp://mail.shop.example:587"},
                        {"from", "Магазин <noreply@shop.example>"},
                        {"username", "gateway"},
                        {"password", "s3cret"},
                        {"reply_to", "Support <support@shop.example>"},
                        {"envelope_from", "bounces+{id}@shop.example"}});
  smtp.settings["list_unsubscribe"] = ch::Setting{
      "", {"https://shop.example/u/{id}", "mailto:unsubscribe+{id}@shop.example"}, true, 9};
  specs.push_back({"smtp", "email", "petya@example.net", "", smtp});
  specs.push_back({"webhook", "sms", "+15551234567", "",
                   configOf("hook", "webhook",
                            {{"url", "https://hooks.shop.example/omnigate"}, {"token", "t0k"}})});
  specs.push_back(
      {"twilio", "sms", "+15551234567", "",
       configOf("twilio-main", "twilio",
                {{"account_sid", "AC0123456789abcdef0123456789abcdef"},
                 {"auth_token", kTwilioToken},
                 {"from", "+15557654321"},
                 {"base_url", "http://127.0.0.1:8081/"},
                 {"status_callback_url", "https://gw.example.com/v1/callbacks/twilio-main"}})});
  specs.push_back({"kannel", "sms", "+4912345678", "",
                   configOf("kannel-main", "kannel",
                            {{"url", "http://127.0.0.1:13013/cgi-bin/sendsms"},
                             {"username", "gw"},
                             {"password", kKannelSecret},
                             {"from", "Shop"},
                             {"dlr_url", "https://gw.example.com/v1/callbacks/kannel-main"}})});
  specs.push_back({"http_sms form", "sms", "+79161234567", "",
                   configOf("http-sms", "http_sms",
                            {{"url", "https://sms.example.net/api/send?user=shop"},
                             {"from", "Shop"},
                             {"auth_token", "s3cret"},
                             {"success_regex", "\"status\"\\s*:\\s*\"(ok|queued)\""}})});
  specs.push_back({"telegram", "messenger", "123456789", "",
                   configOf("telegram-main", "telegram",
                            {{"bot_token", "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"},
                             {"base_url", "http://127.0.0.1:9000"},
                             {"parse_mode", "MarkdownV2"}})});
  specs.push_back({"whatsapp", "messenger", "+15551234567", "",
                   configOf("whatsapp-main", "whatsapp",
                            {{"access_token", "EAAG-test-token"},
                             {"phone_number_id", "106540352242922"},
                             {"app_secret", kWhatsappSecret}})});
  specs.push_back({"chat_webhook", "messenger", "", "",
                   configOf("slack", "chat_webhook",
                            {{"url", "https://hooks.slack.com/services/T000/B000/XXXXXXXX"}})});
  specs.push_back({"fcm", "push", "fcm-registration-token-1", "fcm",
                   configOf("fcm-main", "fcm",
                            {{"service_account", serviceAccountJson()},
                             {"ttl", "1h"},
                             {"collapse_key", "orders"}})});
  specs.push_back({"apns", "push",
                   "3f4a9c0d1e2b5a6978c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f60718293a4b5c6d", "apns",
                   configOf("apns-main", "apns",
                            {{"team_id", "TEAM123456"},
                             {"key_id", "KEY1234567"},
                             {"private_key", ch::push::testing::p256Key().private_pem},
                             {"topic", "com.shop.app"}})});
  specs.push_back({"http_sms json", "sms", "+79161234567", "",
                   configOf("http-sms-json", "http_sms",
                            {{"url", "https://sms.example.net/v2/messages"},
                             {"content_type", "application/json"},
                             {"body",
                              "{\"to\":\"{to}\",\"text\":\"{text}\",\"from\":\"{from}\","
                              "\"ref\":\"{id}\",\"tag\":\"{category}\"}"},
                             {"success_json_path", "result.status"},
                             {"success_json_value", "accepted"},
                             {"message_id_json_path", "result.messages.0.id"},
                             {"from", "Shop"}})});
  specs.push_back({"whatsapp template", "messenger", "+15551234567", "",
                   configOf("whatsapp-tpl", "whatsapp",
                            {{"access_token", "EAAG-test-token"},
                             {"phone_number_id", "106540352242922"},
                             {"template_name", "order_update"},
                             {"app_secret", kWhatsappSecret}})});

  std::vector<Fixture> fixtures;
  for (auto& spec : specs) {
    auto provider = registry.create(spec.config);
    if (!provider) {
      std::fprintf(stderr, "fixture %s does not build: %s: %s\n", spec.label.c_str(),
                   provider.error().code.c_str(), provider.error().message.c_str());
      __builtin_trap();
    }
    fixtures.push_back(
        {spec.label, spec.channel, spec.recipient, spec.platform, std::move(provider.value())});
  }
  return fixtures;
}

const std::vector<Fixture>& fixtures() {
  static const std::vector<Fixture> built = buildFixtures();
  return built;
}

ch::OutboundMessage sampleMessage(const Fixture& fixture) {
  ch::OutboundMessage message;
  message.id = "01J9ZQ4N3V6Y7W8X9A0B1C2D3E";
  message.channel = fixture.channel;
  message.category = "transactional";
  message.attempt = 1;
  message.now_unix_ms = 1'700'000'000'123;
  message.recipient = fixture.recipient;
  message.recipient_platform = fixture.platform;
  message.subject = "Order A-17 shipped";
  message.title = "Order A-17";
  message.text = "Your order A-17 is on its way";
  message.html = "<p>Your order A-17 is on its way</p>";
  message.credential = "ya29.credential";
  return message;
}

void checkVerdict(const ch::Verdict& verdict) {
  FUZZ_LOG("verdict %s%s code '%s' id '%s': %s", ch::toString(verdict.disposition),
           verdict.pause_provider ? " (pause)" : "", verdict.provider_code.c_str(),
           verdict.provider_message_id.c_str(), verdict.detail.c_str());
  if (verdict.refresh_credential) FUZZ_CHECK(verdict.disposition == ch::Disposition::Retry);
  if (verdict.retry_after) FUZZ_CHECK(verdict.retry_after->count() >= 0);
  if (verdict.disposition == ch::Disposition::Accepted) FUZZ_CHECK(!verdict.pause_provider);
  FUZZ_CHECK(verdict.segments >= 0);
  FUZZ_CHECK(ch::toString(verdict.disposition) != nullptr);
}

bool equalsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string headerOf(const std::vector<ch::Header>& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (equalsIgnoringCase(key, name)) return value;
  }
  return {};
}

bool isTokenChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// What the transport puts on the wire must not let message content start a header, a command
// or a second request. `valid_input`: the message is what the API can hand over (UTF-8 text,
// data and metadata that are JSON); only then must a JSON body be valid JSON.
void checkRequest(const ch::TransportRequest& request, bool valid_input) {
  FUZZ_CHECK(request.timeout.count() > 0);
  if (const auto* http = std::get_if<ch::HttpRequest>(&request.what)) {
    FUZZ_CHECK(!http->url.empty());
    for (char c : http->url) {
      FUZZ_CHECK(static_cast<unsigned char>(c) > 0x20 && c != 0x7f);
    }
    for (const auto& [name, value] : http->headers) {
      FUZZ_CHECK(!name.empty());
      for (char c : name) FUZZ_CHECK(isTokenChar(c));
      FUZZ_CHECK(!omnigate::fuzz::hasLineBreakOrNul(value));
    }
    std::string type = headerOf(http->headers, "Content-Type");
    std::string base = type.substr(0, type.find(';'));
    if (equalsIgnoringCase(base, "application/json") && valid_input) {
      boost::system::error_code ec;
      boost::json::parse(http->body, ec);
      if (ec) std::fprintf(stderr, "not JSON: %s\n", http->body.c_str());
      FUZZ_CHECK(!ec);
    } else if (equalsIgnoringCase(base, "application/x-www-form-urlencoded")) {
      FUZZ_CHECK(wire::formDecode(http->body).ok());
    }
  } else if (const auto* smtp = std::get_if<ch::SmtpRequest>(&request.what)) {
    for (const std::string* envelope : {&smtp->mail_from, &smtp->rcpt_to}) {
      FUZZ_CHECK(!envelope->empty());
      for (char c : *envelope) {
        FUZZ_CHECK(static_cast<unsigned char>(c) > 0x20 && c != 0x7f && c != '<' && c != '>');
      }
    }
    const std::string& payload = smtp->payload;
    for (std::size_t i = 0; i < payload.size(); ++i) {
      if (payload[i] == '\n') FUZZ_CHECK(i > 0 && payload[i - 1] == '\r');
      FUZZ_CHECK(static_cast<unsigned char>(payload[i]) < 0x80 && payload[i] != '\0');
    }
  } else {
    FUZZ_CHECK(false && "built-in network providers never write files");
  }
}

void interpret(const Fixture& fixture, const std::vector<std::string>& fields) {
  ch::TransportReply reply;
  reply.status = leadingNumber(fields[0], 200);
  reply.http_version = fields[1];
  reply.headers = omnigate::fuzz::parseHeaderLines(fields[2]);
  reply.body = fields[3];
  if (long seconds = leadingNumber(fields[4], -1); seconds >= 0) {
    reply.retry_after = std::chrono::seconds(seconds);
  }
  checkVerdict(fixture.provider->interpret(sampleMessage(fixture), reply));
}

void interpretFailure(const Fixture& fixture, const std::vector<std::string>& fields) {
  ch::TransportFailure failure;
  failure.kind = static_cast<ch::TransportErrorKind>(
      static_cast<unsigned long>(leadingNumber(fields[0], 0)) % 7);
  failure.request_may_have_been_sent = leadingNumber(fields[1], 0) != 0;
  failure.detail = fields[2];
  FUZZ_CHECK(ch::toString(failure.kind) != nullptr);
  auto verdict = fixture.provider->interpretFailure(sampleMessage(fixture), failure);
  checkVerdict(verdict);
  // A connection failure says nothing about the message or the recipient.
  FUZZ_CHECK(verdict.disposition != ch::Disposition::Accepted);
  FUZZ_CHECK(verdict.disposition != ch::Disposition::RecipientDead);
  FUZZ_CHECK(verdict.disposition != ch::Disposition::OptedOut);
}

// Adds what the provider verifies, computed the way its documentation says.
void sign(const Fixture& fixture, ch::InboundRequest& request) {
  if (fixture.label == "twilio") {
    auto fields = wire::formDecode(request.method == "POST" ? request.body : "");
    if (!fields) return;
    std::sort(fields->begin(), fields->end());
    std::string signed_text = request.url;
    for (const auto& [name, value] : fields.value()) signed_text += name + value;
    request.headers.insert(
        request.headers.begin(),
        {"X-Twilio-Signature", wire::base64Encode(wire::hmacSha1(kTwilioToken, signed_text))});
  } else if (fixture.label.rfind("whatsapp", 0) == 0) {
    request.headers.insert(
        request.headers.begin(),
        {"X-Hub-Signature-256",
         "sha256=" + wire::hexEncode(wire::hmacSha256(kWhatsappSecret, request.body))});
  } else if (fixture.label == "kannel") {
    auto fields = wire::formDecode(wire::queryOf(request.url));
    if (!fields) return;
    std::string id;
    for (const auto& [name, value] : fields.value()) {
      if (name == "id") {
        id = value;
        break;
      }
    }
    std::string token =
        wire::hexEncode(wire::hmacSha256(kKannelSecret, "kannel-dlr:" + id)).substr(0, 32);
    auto question = request.url.find('?');
    if (question == std::string::npos || request.url.find('#') < question) return;
    request.url.insert(question + 1, "token=" + token + "&");
  }
}

void parseCallback(const Fixture& fixture, const std::vector<std::string>& fields, bool signed_) {
  ch::InboundRequest request;
  request.method = fields[0];
  request.url = fields[1];
  request.headers = omnigate::fuzz::parseHeaderLines(fields[2]);
  request.body = fields[3];
  if (signed_) sign(fixture, request);
  auto updates = fixture.provider->parseCallback(request);
  if (!updates) {
    const auto& code = updates.error().code;
    FUZZ_LOG("callback refused: %s: %s", code.c_str(), updates.error().message.c_str());
    FUZZ_CHECK(code == "unauthorized" || code == "bad_callback" || code == "callbacks_unsupported");
    return;
  }
  FUZZ_LOG("callback gave %zu updates", updates->size());
  // Nobody without the provider's secret gets a receipt accepted.
  FUZZ_CHECK(signed_);
  for (const auto& update : updates.value()) {
    FUZZ_CHECK(!update.provider_message_id.empty() || !update.message_id.empty());
    FUZZ_CHECK(update.status == ch::ReceiptStatus::Delivered ||
               update.status == ch::ReceiptStatus::Read ||
               update.status == ch::ReceiptStatus::Failed);
  }
}

void encode(const Fixture& fixture, const std::vector<std::string>& fields) {
  ch::OutboundMessage message = sampleMessage(fixture);
  message.recipient = fields[0].empty() ? fixture.recipient : fields[0];
  message.subject = fields[1];
  message.title = fields[2];
  message.text = fields[3];
  message.html = fields[4];
  message.data_json = fields[5];
  message.metadata_json = fields[6];
  if (!fields[7].empty()) message.category = fields[7];
  message.locale = fields[8];
  if (!fields[9].empty()) message.recipient_platform = fields[9];
  // The credential comes from interpretTokenReply, which must hand out header-safe tokens (see
  // credentials() below); anything else here is outside the contract.
  if (!fields[10].empty() && !omnigate::fuzz::hasLineBreakOrNul(fields[10])) {
    message.credential = fields[10];
  }
  message.attempt = static_cast<int>(std::clamp(leadingNumber(fields[11], 1), 1L, 1000L));
  message.now_unix_ms = leadingNumber(fields[12], message.now_unix_ms);
  auto request = fixture.provider->encode(message);
  if (!request) {
    FUZZ_LOG("encode refused: %s: %s", request.error().code.c_str(),
             request.error().message.c_str());
    FUZZ_CHECK(!request.error().code.empty());
    return;
  }
  if (const auto* http = std::get_if<ch::HttpRequest>(&request->what)) {
    FUZZ_LOG("encoded %s %s", http->url.c_str(), http->body.c_str());
  } else {
    FUZZ_LOG("encoded a non-HTTP request");
  }
  bool valid_input = true;
  for (const std::string* text :
       {&message.recipient, &message.subject, &message.title, &message.text, &message.html,
        &message.data_json, &message.metadata_json, &message.category, &message.locale,
        &message.recipient_platform, &message.credential}) {
    valid_input = valid_input && omnigate::fuzz::isValidUtf8(*text);
  }
  // KNOWN BUG (fuzz report 5): the API accepts numbers beyond double's range, and APNs and
  // WhatsApp then copy the resulting infinity into their body as "Infinity" (not JSON). Until
  // the API refuses them, such data is treated as outside what the API hands over.
  for (const std::string* json : {&message.data_json, &message.metadata_json}) {
    boost::system::error_code ec;
    auto value = boost::json::parse(*json, ec);
    if (!ec && omnigate::fuzz::filterKnownBugs() && omnigate::fuzz::hasNonFiniteNumber(value)) {
      valid_input = false;
    }
  }
  checkRequest(request.value(), valid_input);
  // Encoding is a function of the message: a retry sends the same request.
  auto again = fixture.provider->encode(message);
  FUZZ_CHECK(again.ok());
  if (const auto* http = std::get_if<ch::HttpRequest>(&request->what)) {
    const auto& other = std::get<ch::HttpRequest>(again->what);
    FUZZ_CHECK(other.url == http->url && other.body == http->body &&
               other.headers == http->headers);
  }
}

// KNOWN BUG (fuzz report 4): FcmCredentialSource::interpretTokenReply converts a huge double
// "expires_in" to int64 (fcm_provider.cc:116) and computes expires_in * 1000 without a bound
// (:128): undefined behaviour for a token endpoint reply such as {"expires_in": 1e300} or
// {"expires_in": 1e18}. Such replies are skipped until it is fixed.
bool hitsHugeExpiresIn(const std::string& body) {
  if (!omnigate::fuzz::filterKnownBugs()) return false;
  boost::system::error_code ec;
  auto value = boost::json::parse(body, ec);
  if (ec || !value.is_object()) return false;
  const auto* field = value.as_object().if_contains("expires_in");
  if (field == nullptr) return false;
  constexpr double kSafe = 9e12;
  if (field->is_int64()) return field->as_int64() > kSafe || field->as_int64() < -kSafe;
  if (field->is_double()) return !(std::fabs(field->as_double()) <= kSafe);
  if (field->is_string()) {
    std::string text(field->as_string());
    return std::fabs(std::strtod(text.c_str(), nullptr)) > kSafe;
  }
  return false;
}

void credentials(const Fixture& fixture, const std::vector<std::string>& fields) {
  const ch::CredentialSource* source = fixture.provider->credentialSource();
  if (source == nullptr) return;
  std::int64_t now = leadingNumber(fields[2], 1'700'000'000'123);
  if (source->mintsLocally()) {
    auto minted = source->mint(now);
    FUZZ_LOG("minted: %s", minted ? minted->value.c_str() : minted.error().message.c_str());
    if (!minted) return;
    FUZZ_CHECK(!minted->value.empty());
    FUZZ_CHECK(source->refreshAtUnixMs(minted.value()) <= minted->expires_unix_ms);
    return;
  }
  ch::TransportReply reply;
  reply.status = leadingNumber(fields[0], 200);
  reply.body = fields[1];
  if (hitsHugeExpiresIn(reply.body)) return;
  auto credential = source->interpretTokenReply(reply, now);
  if (!credential) {
    FUZZ_LOG("token reply refused: %s: %s", credential.error().code.c_str(),
             credential.error().message.c_str());
    FUZZ_CHECK(!credential.error().code.empty());
    return;
  }
  FUZZ_LOG("token until %lld", static_cast<long long>(credential->expires_unix_ms));
  FUZZ_CHECK(reply.status == 200);
  FUZZ_CHECK(!credential->value.empty());
  // The token goes into "Authorization: Bearer <token>" on every send. KNOWN BUG (fuzz report
  // 6): interpretTokenReply takes any access_token, line breaks and NUL included; the transport
  // refuses CR/LF in header values, so every push then fails locally until the token expires.
  if (!omnigate::fuzz::filterKnownBugs()) {
    FUZZ_CHECK(!omnigate::fuzz::hasLineBreakOrNul(credential->value));
  }
  FUZZ_CHECK(credential->expires_unix_ms > now);
  // The daemon never lets the refresh time pass the expiry itself.
  FUZZ_CHECK(source->refreshAtUnixMs(credential.value()) <= credential->expires_unix_ms);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fixtures();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input = omnigate::fuzz::asView(data, size);
  if (input.size() < 2) return 0;
  const auto& all = fixtures();
  const Fixture& fixture = all[static_cast<unsigned char>(input[0]) % all.size()];
  const unsigned op = static_cast<unsigned char>(input[1]) % 6;
  auto newline = input.find('\n');
  std::string_view rest = newline == std::string_view::npos ? "" : input.substr(newline + 1);
  auto fields = omnigate::fuzz::splitFields(rest, 13);
  switch (op) {
    case 0:
      interpret(fixture, fields);
      break;
    case 1:
      interpretFailure(fixture, fields);
      break;
    case 2:
      parseCallback(fixture, fields, false);
      break;
    case 3:
      parseCallback(fixture, fields, true);
      break;
    case 4:
      encode(fixture, fields);
      break;
    default:
      credentials(fixture, fields);
      break;
  }
  return 0;
}
