#include "channels/email/smtp_provider.h"

#include <algorithm>
#include <boost/url/parse.hpp>
#include <cctype>

#include "channels/email/address.h"
#include "channels/email/mime.h"
#include "channels/generic/message_json.h"

namespace omnigate::channels {
namespace {

using email::Mailbox;

constexpr std::chrono::milliseconds kSmtpTimeout{60'000};
constexpr std::size_t kMaxDetail = 500;
constexpr std::string_view kIdPlaceholder = "{id}";

std::string toLower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool containsAny(std::string_view haystack, std::initializer_list<std::string_view> needles) {
  return std::any_of(needles.begin(), needles.end(), [&](std::string_view needle) {
    return haystack.find(needle) != std::string_view::npos;
  });
}

// Message ids are ULIDs; anything outside a safe set is hex-escaped so that the Message-ID,
// VERP address and unsubscribe URI stay valid and still differ for different ids.
std::string safeId(std::string_view id) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : id) {
    auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '-' || c == '_' || c == '.') {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
  }
  return out;
}

std::string expandId(std::string_view pattern, std::string_view id) {
  std::string out;
  std::size_t start = 0;
  while (true) {
    auto at = pattern.find(kIdPlaceholder, start);
    out += pattern.substr(start, at == std::string_view::npos ? at : at - start);
    if (at == std::string_view::npos) return out;
    out += id;
    start = at + kIdPlaceholder.size();
  }
}

struct ServerReply {
  long code = 0;
  std::string enhanced;  // "5.1.1", empty when the server sent none
  std::string text;      // every line without its code prefix, joined with spaces
};

bool isEnhancedCode(std::string_view token) {
  // class "." subject "." detail: 2/4/5, then 1-3 digits twice.
  if (token.size() < 5 || (token[0] != '2' && token[0] != '4' && token[0] != '5') ||
      token[1] != '.') {
    return false;
  }
  auto second_dot = token.find('.', 2);
  if (second_dot == std::string_view::npos || second_dot == 2 || second_dot > 5) return false;
  auto digits = [](std::string_view part) {
    return !part.empty() && part.size() <= 3 &&
           std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  return digits(token.substr(2, second_dot - 2)) && digits(token.substr(second_dot + 1));
}

ServerReply parseServerReply(long code, std::string_view body) {
  ServerReply reply;
  reply.code = code;
  std::size_t start = 0;
  while (start < body.size()) {
    auto end = body.find('\n', start);
    std::string_view line = body.substr(start, end == std::string_view::npos ? end : end - start);
    start = end == std::string_view::npos ? body.size() : end + 1;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    // "550-5.1.1 text" / "550 5.1.1 text": drop the reply code and its continuation mark.
    if (line.size() >= 3 &&
        std::all_of(line.begin(), line.begin() + 3, [](char c) { return c >= '0' && c <= '9'; }) &&
        (line.size() == 3 || line[3] == ' ' || line[3] == '-')) {
      line.remove_prefix(std::min<std::size_t>(4, line.size()));
    }
    if (line.empty()) continue;
    if (reply.enhanced.empty()) {
      auto token = line.substr(0, line.find(' '));
      if (isEnhancedCode(token)) reply.enhanced = std::string(token);
    }
    if (!reply.text.empty()) reply.text += ' ';
    reply.text += line;
  }
  for (char& c : reply.text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  if (reply.text.size() > kMaxDetail) reply.text = reply.text.substr(0, kMaxDetail) + "...";
  return reply;
}

Verdict classify(const ServerReply& reply) {
  Verdict verdict;
  verdict.provider_code =
      std::to_string(reply.code) + (reply.enhanced.empty() ? "" : " " + reply.enhanced);
  verdict.detail =
      reply.text.empty() ? verdict.provider_code : std::to_string(reply.code) + " " + reply.text;
  auto decide = [&](Disposition disposition, bool pause = false) {
    verdict.disposition = disposition;
    verdict.pause_provider = pause;
    return verdict;
  };
  long code = reply.code;
  if (code >= 200 && code < 300) {
    // "250 2.0.0 Ok: queued as 4BbLqq0l4Kz9v" (Postfix), "250 OK id=1qZ..." (Exim): the
    // server's queue id, for finding the message in its logs.
    std::string lower = toLower(reply.text);
    for (std::string_view marker : {"queued as ", "id="}) {
      auto at = lower.find(marker);
      if (at == std::string::npos) continue;
      auto begin = at + marker.size();
      auto end = reply.text.find_first_of(" ;,>", begin);
      verdict.provider_message_id =
          reply.text.substr(begin, end == std::string::npos ? end : end - begin);
      break;
    }
    return decide(Disposition::Accepted);
  }
  if (code >= 400 && code < 500) {
    // 421: the server is closing every connection; 454: TLS or AUTH is temporarily unavailable.
    return decide(Disposition::Retry, code == 421 || code == 454);
  }
  if (code < 500 || code >= 600) {
    verdict.detail = "unexpected SMTP reply: " + verdict.detail;
    return decide(Disposition::Retry);
  }

  std::string text = toLower(reply.text);
  std::string_view enhanced = reply.enhanced;
  bool addressing = enhanced.rfind("5.1.", 0) == 0;
  if (code == 530 || code == 534 || code == 535 || code == 538) {
    return decide(Disposition::Misconfigured, true);
  }
  if (enhanced == "5.1.7" || enhanced == "5.1.8") return decide(Disposition::Misconfigured, true);
  if (addressing && enhanced != "5.1.0") return decide(Disposition::RecipientDead);
  // Our From or envelope sender is not allowed, or the server will not relay for us: every
  // message through this provider will fail the same way.
  if (containsAny(text, {"sender", "relay"})) return decide(Disposition::Misconfigured, true);
  if (addressing || enhanced == "5.2.1" || code == 551) return decide(Disposition::RecipientDead);
  if ((code == 550 || code == 553) &&
      containsAny(text, {"user unknown", "unknown user", "no such user", "no such recipient",
                         "no such mailbox", "unknown recipient", "recipient unknown",
                         "invalid recipient", "user not found", "mailbox not found",
                         "does not exist", "account disabled", "account has been disabled"})) {
    return decide(Disposition::RecipientDead);
  }
  // RFC 5321 §4.5.3.1.10: 552 is the old "too many recipients" and should be treated as
  // temporary, unless it says the message is too big.
  if (code == 552 && (enhanced == "5.2.2" || containsAny(text, {"full", "quota"}))) {
    return decide(Disposition::Retry);
  }
  return decide(Disposition::Rejected);
}

class SmtpProvider final : public Provider {
 public:
  struct Options {
    std::string url;
    bool implicit_tls = false;
    Mailbox from;
    Mailbox reply_to;
    std::string envelope_from;  // may contain {id}
    std::string username;
    std::string password;
    bool require_starttls = true;
    std::vector<std::string> list_unsubscribe;  // may contain {id}
    std::vector<std::string> unsubscribe_categories;
    std::string pool_key;
  };

  explicit SmtpProvider(Options options) : options_(std::move(options)) {}

  Result<TransportRequest> encode(const OutboundMessage& message) const override {
    if (!email::isValidAddress(message.recipient)) {
      std::string shown = message.recipient.substr(0, 100);
      for (char& c : shown) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';  // keep logs one line
      }
      return makeError("invalid_recipient",
                       "'" + shown + "' is not an email address this gateway sends to");
    }
    std::string id = safeId(message.id);
    email::MimeMessage mime;
    mime.from_name = options_.from.name;
    mime.from_address = options_.from.address;
    mime.to_address = message.recipient;
    mime.reply_to_name = options_.reply_to.name;
    mime.reply_to = options_.reply_to.address;
    mime.subject = message.subject;
    mime.text = message.text;
    mime.html = message.html;
    mime.message_id = id + "@" + std::string(email::addressDomain(options_.from.address));
    mime.date_unix_ms = message.now_unix_ms;
    const auto& categories = options_.unsubscribe_categories;
    if (std::find(categories.begin(), categories.end(), message.category) != categories.end()) {
      for (const auto& pattern : options_.list_unsubscribe) {
        mime.list_unsubscribe.push_back(expandId(pattern, id));
        mime.one_click = mime.one_click || toLower(pattern).rfind("https://", 0) == 0;
      }
    }
    auto payload = email::buildMimeMessage(mime);
    if (!payload) return payload.error();

    SmtpRequest smtp;
    smtp.url = options_.url;
    smtp.mail_from = expandId(options_.envelope_from, id);
    smtp.rcpt_to = message.recipient;
    smtp.payload = std::move(payload.value());
    smtp.username = options_.username;
    smtp.password = options_.password;
    smtp.require_tls = options_.implicit_tls || options_.require_starttls;
    smtp.pool_key = options_.pool_key;
    TransportRequest request;
    request.what = std::move(smtp);
    request.timeout = kSmtpTimeout;
    return request;
  }

  Verdict interpret(const OutboundMessage&, const TransportReply& reply) const override {
    return classify(parseServerReply(reply.status, reply.body));
  }

  Verdict interpretFailure(const OutboundMessage& message,
                           const TransportFailure& failure) const override {
    bool tls_required = options_.implicit_tls || options_.require_starttls;
    if (failure.kind == TransportErrorKind::Tls && tls_required) {
      Verdict verdict;
      verdict.disposition = Disposition::Misconfigured;
      verdict.pause_provider = true;
      verdict.provider_code = toString(failure.kind);
      verdict.detail =
          "TLS is required and failed (no STARTTLS offered, or a certificate we do "
          "not trust): " +
          failure.detail;
      return verdict;
    }
    if (failure.kind == TransportErrorKind::Local) {
      return Provider::interpretFailure(message, failure);
    }
    Verdict verdict;
    verdict.disposition = Disposition::Retry;
    verdict.provider_code = toString(failure.kind);
    verdict.detail = failure.detail;
    return verdict;
  }

 private:
  Options options_;
};

bool isLoopbackHost(std::string_view host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "[::1]" || host == "::1";
}

std::vector<std::string> settingValues(const ProviderConfig& config, const std::string& key) {
  auto it = config.settings.find(key);
  if (it == config.settings.end()) return {};
  if (it->second.is_array) return it->second.values;
  return {it->second.value};
}

}  // namespace

Result<ProviderPtr> makeSmtpProvider(const ProviderConfig& config) {
  if (auto known =
          checkKnownSettings(config,
                             {"url", "from", "username", "password", "require_starttls", "reply_to",
                              "envelope_from", "list_unsubscribe", "unsubscribe_categories"},
                             {"list_unsubscribe", "unsubscribe_categories"});
      !known) {
    return known.error();
  }
  SmtpProvider::Options options;
  options.url = settingOr(config, "url");
  auto url = boost::urls::parse_absolute_uri(options.url);
  std::string scheme = url ? toLower(url->scheme()) : "";
  if (!url || (scheme != "smtp" && scheme != "smtps") || url->host().empty()) {
    return makeError("setting:url",
                     "an smtp provider needs `url` = \"smtp://host:port\" or "
                     "\"smtps://host:port\", got '" +
                         options.url + "'");
  }
  if (url->has_userinfo()) {
    return makeError("setting:url", "put credentials in `username` and `password`, not the url");
  }
  options.implicit_tls = scheme == "smtps";

  auto from = email::parseMailbox(settingOr(config, "from"));
  if (!from) {
    return makeError("setting:from",
                     "`from` must be \"Name <address>\" or an address: " + from.error().message);
  }
  options.from = from.value();
  if (std::string reply_to = settingOr(config, "reply_to"); !reply_to.empty()) {
    auto mailbox = email::parseMailbox(reply_to);
    if (!mailbox) return makeError("setting:reply_to", mailbox.error().message);
    options.reply_to = mailbox.value();
  }
  options.envelope_from = settingOr(config, "envelope_from", options.from.address);
  if (!email::isValidAddress(expandId(options.envelope_from, "ID"))) {
    return makeError("setting:envelope_from",
                     "`envelope_from` must be an address, optionally with {id}");
  }

  options.username = settingOr(config, "username");
  options.password = settingOr(config, "password");
  if (options.username.empty() != options.password.empty()) {
    return makeError(options.username.empty() ? "setting:username" : "setting:password",
                     "`username` and `password` (or `password_file`) go together");
  }
  auto starttls = boolSetting(config, "require_starttls", true);
  if (!starttls) return starttls.error();
  options.require_starttls = starttls.value();
  if (!options.implicit_tls && !options.require_starttls && !options.username.empty() &&
      !isLoopbackHost(url->host())) {
    return makeError("setting:require_starttls",
                     "the password would cross the network in clear text; use smtps:// or "
                     "require_starttls = true");
  }

  options.list_unsubscribe = settingValues(config, "list_unsubscribe");
  for (const auto& pattern : options.list_unsubscribe) {
    // Validate the expanded form once here, so a bad URI stops startup, not every send.
    email::MimeMessage probe;
    probe.from_address = options.from.address;
    probe.to_address = options.from.address;
    probe.text = "probe";
    probe.message_id = "probe@" + std::string(email::addressDomain(options.from.address));
    probe.list_unsubscribe = {expandId(pattern, "ID")};
    if (auto built = email::buildMimeMessage(probe); !built) {
      return makeError("setting:list_unsubscribe", built.error().message);
    }
  }
  options.unsubscribe_categories = config.settings.count("unsubscribe_categories") != 0
                                       ? settingValues(config, "unsubscribe_categories")
                                       : std::vector<std::string>{"marketing"};
  options.pool_key = "smtp:" + config.name;
  return ProviderPtr(std::make_unique<SmtpProvider>(std::move(options)));
}

}  // namespace omnigate::channels
