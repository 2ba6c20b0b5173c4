#include "channels/email/address.h"

#include <algorithm>

namespace omnigate::channels::email {
namespace {

constexpr std::size_t kMaxAddress = 254;  // RFC 5321 path limit minus the angle brackets
constexpr std::size_t kMaxLocal = 64;
constexpr std::size_t kMaxLabel = 63;

bool isAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// RFC 5322 atext.
bool isAtext(char c) {
  return isAlnum(c) || std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

bool isDotAtom(std::string_view text) {
  if (text.empty() || text.front() == '.' || text.back() == '.') return false;
  if (text.find("..") != std::string_view::npos) return false;
  return std::all_of(text.begin(), text.end(), [](char c) { return isAtext(c) || c == '.'; });
}

bool isDomain(std::string_view domain) {
  if (domain.size() >= 2 && domain.front() == '[' && domain.back() == ']') {
    auto literal = domain.substr(1, domain.size() - 2);
    return !literal.empty() && std::all_of(literal.begin(), literal.end(), [](char c) {
      return isAlnum(c) || c == '.' || c == ':';
    });
  }
  if (domain.empty() || domain.size() > 253) return false;
  std::size_t start = 0;
  while (true) {
    auto dot = domain.find('.', start);
    auto label = domain.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (label.empty() || label.size() > kMaxLabel || label.front() == '-' || label.back() == '-') {
      return false;
    }
    if (!std::all_of(label.begin(), label.end(), [](char c) { return isAlnum(c) || c == '-'; })) {
      return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace

bool isValidAddress(std::string_view address) {
  if (address.size() > kMaxAddress) return false;
  auto at = address.find('@');
  if (at == std::string_view::npos || address.find('@', at + 1) != std::string_view::npos) {
    return false;
  }
  auto local = address.substr(0, at);
  return local.size() <= kMaxLocal && isDotAtom(local) && isDomain(address.substr(at + 1));
}

std::string_view addressDomain(std::string_view address) {
  auto at = address.rfind('@');
  return at == std::string_view::npos ? std::string_view() : address.substr(at + 1);
}

Result<Mailbox> parseMailbox(std::string_view text) {
  if (text.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) {
    return makeError("invalid_header", "a mailbox cannot contain CR, LF or NUL");
  }
  text = trim(text);
  Mailbox mailbox;
  auto open = text.rfind('<');
  if (open == std::string_view::npos) {
    mailbox.address = std::string(text);
  } else {
    if (text.back() != '>') {
      return makeError("invalid_address",
                       "expected \"Name <address>\", got '" + std::string(text) + "'");
    }
    mailbox.address = std::string(trim(text.substr(open + 1, text.size() - open - 2)));
    auto name = trim(text.substr(0, open));
    if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
      name = name.substr(1, name.size() - 2);
      for (std::size_t i = 0; i < name.size(); ++i) {
        if (name[i] == '\\' && i + 1 < name.size()) ++i;
        mailbox.name += name[i];
      }
    } else {
      mailbox.name = std::string(name);
    }
  }
  if (!isValidAddress(mailbox.address)) {
    return makeError("invalid_address", "'" + mailbox.address + "' is not an email address");
  }
  return mailbox;
}

}  // namespace omnigate::channels::email
