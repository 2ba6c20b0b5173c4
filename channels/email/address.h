#pragma once

// Email addresses as this gateway accepts them: the common dot-atom form of RFC 5322 addr-spec
// ("local@example.com", "a.b+tag@[192.0.2.1]"), ASCII only. Quoted local parts and non-ASCII
// addresses (which need SMTPUTF8) are refused rather than half-supported.

#include <string>
#include <string_view>

#include "daemon/common/result.h"

namespace omnigate::channels::email {

struct Mailbox {
  std::string name;     // display name, may be non-ASCII; empty when absent
  std::string address;  // addr-spec
};

bool isValidAddress(std::string_view address);

// The part after the '@' of a valid address.
std::string_view addressDomain(std::string_view address);

// "addr", "Name <addr>" or "\"Name, Inc.\" <addr>". Errors: `invalid_address`, and
// `invalid_header` for CR, LF or NUL anywhere.
Result<Mailbox> parseMailbox(std::string_view text);

}  // namespace omnigate::channels::email
