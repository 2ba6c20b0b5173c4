#pragma once

// Phone numbers to E.164. With libphonenumber (when its headers are on the include path at build
// time) any national or international spelling is parsed against a default region and checked
// against the numbering plan; without it only strict E.164 is accepted ("+" and 7 to 15 digits,
// no separators), so a bad number is refused either way instead of failing at the provider.

#include <string>
#include <string_view>

#include "daemon/common/result.h"

namespace omnigate::channels::sms {

// True when this build validates against libphonenumber's numbering plans.
bool phoneNumberLibraryAvailable();

// `default_region` is an ISO 3166-1 alpha-2 code ("RU", "US") used for numbers written without
// a country code; empty means such numbers are refused. Errors have code "invalid_phone" and a
// message fit for an API client.
Result<std::string> normalizePhoneNumber(std::string_view input, std::string_view default_region);

// The strict E.164 check the fallback applies, usable on its own (e.g. for a provider's `from`).
bool isStrictE164(std::string_view number);

}  // namespace omnigate::channels::sms
