#include "channels/sms/phone_number.h"

#if __has_include(<phonenumbers/phonenumberutil.h>)
#define OMNIGATE_HAVE_LIBPHONENUMBER 1
#include <phonenumbers/phonenumberutil.h>
#else
#define OMNIGATE_HAVE_LIBPHONENUMBER 0
#endif

namespace omnigate::channels::sms {
namespace {

// Longer inputs are not phone numbers, and libphonenumber refuses over 250 characters anyway.
constexpr std::size_t kMaxInput = 64;

Error invalid(std::string_view input, const std::string& why) {
  return makeError("invalid_phone", "'" + std::string(input.substr(0, kMaxInput)) +
                                        "' is not a valid phone number: " + why);
}

#if OMNIGATE_HAVE_LIBPHONENUMBER
using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

std::string parseErrorText(PhoneNumberUtil::ErrorType error) {
  switch (error) {
    case PhoneNumberUtil::INVALID_COUNTRY_CODE_ERROR:
      return "unknown country code (write it as +<country code><number>)";
    case PhoneNumberUtil::NOT_A_NUMBER:
      return "not a phone number";
    case PhoneNumberUtil::TOO_SHORT_AFTER_IDD:
      return "too short after the international prefix";
    case PhoneNumberUtil::TOO_SHORT_NSN:
      return "too short";
    case PhoneNumberUtil::TOO_LONG_NSN:
      return "too long";
    default:
      return "cannot be parsed";
  }
}
#endif

}  // namespace

bool isStrictE164(std::string_view number) {
  if (number.size() < 8 || number.size() > 16 || number[0] != '+' || number[1] == '0') {
    return false;
  }
  for (std::size_t i = 1; i < number.size(); ++i) {
    if (number[i] < '0' || number[i] > '9') return false;
  }
  return true;
}

bool phoneNumberLibraryAvailable() { return OMNIGATE_HAVE_LIBPHONENUMBER != 0; }

Result<std::string> normalizePhoneNumber(std::string_view input, std::string_view default_region) {
  if (input.empty()) return invalid(input, "empty");
  if (input.size() > kMaxInput) return invalid(input, "too long");
#if OMNIGATE_HAVE_LIBPHONENUMBER
  const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
  // "ZZ" is libphonenumber's unknown region: only numbers with a leading + then parse.
  std::string region = default_region.empty() ? "ZZ" : std::string(default_region);
  // An unknown region has no country code.
  if (!default_region.empty() && util.GetCountryCodeForRegion(region) == 0) {
    return makeError("invalid_region", "'" + region + "' is not a known ISO 3166 region code");
  }
  PhoneNumber number;
  auto parsed = util.Parse(std::string(input), region, &number);
  if (parsed != PhoneNumberUtil::NO_PARSING_ERROR) return invalid(input, parseErrorText(parsed));
  if (!util.IsValidNumber(number)) {
    return invalid(input, "no such number in the country's numbering plan");
  }
  std::string e164;
  util.Format(number, PhoneNumberUtil::E164, &e164);
  return e164;
#else
  (void)default_region;
  if (!isStrictE164(input)) {
    return invalid(input,
                   "write it in E.164: '+', the country code and the number, digits only "
                   "(e.g. +79161234567); this build cannot parse national formats");
  }
  return std::string(input);
#endif
}

}  // namespace omnigate::channels::sms
