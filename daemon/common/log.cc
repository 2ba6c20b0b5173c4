#include "daemon/common/log.h"

#include <algorithm>
#include <cctype>

namespace omnigate {

namespace {
constexpr std::string_view kMask = "***";
}  // namespace

std::string maskEmail(std::string_view email) {
  const auto at = email.rfind('@');
  if (at == std::string_view::npos) return maskToken(email);
  std::string out;
  if (at > 0) out += email.front();
  out += kMask;
  out += email.substr(at);
  return out;
}

std::string maskPhone(std::string_view phone) {
  std::size_t head = 0;
  std::size_t tail = 0;
  if (phone.size() >= 10) {
    head = 5;
    tail = 4;
  } else if (phone.size() > 4) {
    head = 2;
    tail = 2;
  }
  if (head == 0) return std::string(kMask);
  return std::string(phone.substr(0, head)) + std::string(kMask) +
         std::string(phone.substr(phone.size() - tail));
}

std::string maskToken(std::string_view token) {
  if (token.size() <= 12) return std::string(kMask);
  return std::string(token.substr(0, 4)) + std::string(kMask);
}

std::string maskContact(std::string_view contact) {
  if (contact.find('@') != std::string_view::npos) return maskEmail(contact);
  const bool digits = !contact.empty() && std::all_of(contact.begin(), contact.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) != 0;
  });
  if (!contact.empty() && (contact.front() == '+' || digits)) return maskPhone(contact);
  return maskToken(contact);
}

}  // namespace omnigate
