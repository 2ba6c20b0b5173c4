#pragma once

// Masking for log lines: contacts are personal data and tokens are secrets, so a log line names
// them only as much as an operator needs to tell two apart ("a***@example.com", "+7916***4567").

#include <string>
#include <string_view>

namespace omnigate {

// "alice@example.com" -> "a***@example.com". Without an '@', as maskToken.
std::string maskEmail(std::string_view email);
// "+79161234567" -> "+7916***4567": country and area code, and the last four digits. Short
// numbers keep less; four characters or fewer become "***".
std::string maskPhone(std::string_view phone);
// A push token, API key or anything else secret: the first four characters when it is longer
// than twelve (enough to match it against the provider's console), else "***".
std::string maskToken(std::string_view token);
// Picks one of the above: an '@' means an email, a leading '+' or only digits a phone number,
// anything else a token.
std::string maskContact(std::string_view contact);

}  // namespace omnigate
