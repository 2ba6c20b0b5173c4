#pragma once

// Customer profiles and policy state as JSON: the PUT|GET /v1/customers/{id} body, and the forms
// the store keeps. The API form is validated field by field, like POST /v1/messages; the storage
// forms hold everything the policy library sees and read back exactly what was written.

#include <boost/json/object.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "daemon/common/result.h"
#include "policy/policy.h"

namespace omnigate::api {

// PUT /v1/customers/{id} body:
// {"contacts": {"email": "...", "phone": "...",
//               "push": [{"platform": "fcm"|"apns", "token": "..."}],
//               "telegram": "..."},
//  "preferences": {"channels": ["push","email"],
//                  "opt_out": ["marketing", "sms", "marketing:email"],
//                  "quiet_hours": {"start": "22:00", "end": "08:00"}},
//  "timezone": "Europe/Moscow", "locale": "ru"}
// Every field optional; a PUT replaces the whole profile. `id` is the path's id (validate: 1-200
// chars of [A-Za-z0-9._:@-]; error code invalid_request naming "id").
// Timezone: must be a known IANA name — validate with date-tz: `date::locate_zone(name)` throws
// std::runtime_error for unknown zones (policy lib links date::date-tz; omnigate_core links
// omnigate_policy, so the header <date/tz.h> is available). Empty/absent = UTC.
//
// Errors: "invalid_json" (not parseable) or "invalid_request", naming the first field at fault
// ("contacts.push[1].token", "preferences.opt_out[0]"). The phone is normalized to E.164, national
// spellings read against `phone_region`. The result has no invalid contacts and no stats: the
// caller carries over whatever of those it wants to keep.
Result<policy::CustomerProfile> parseCustomerProfile(std::string_view id, std::string_view body,
                                                     std::string_view phone_region);

// The profile as the API returns it (GET), same shape as the PUT body plus
// "id", "invalid_contacts": [...] (contacts.invalid, sorted) and
// "stats": {"<channel>": {"attempts": n, "delivered": n, "read": n}} when non-empty.
// Unset contacts, quiet hours, an empty time zone and an empty locale are left out, so the
// PUT-shaped part of a reply is itself a valid PUT body.
boost::json::object customerProfileToJson(const policy::CustomerProfile& profile);

// Storage form of a profile: everything in CustomerProfile, including contacts.invalid and
// stats, round-tripping exactly (profileFromStorage(profileToStorage(p)) == p field by field).
// An empty string is not a profile (the store uses it for an erased one): corrupt_customer.
std::string profileToStorage(const policy::CustomerProfile& profile);
Result<policy::CustomerProfile> profileFromStorage(std::string_view json);  // code corrupt_customer

// Storage form of the policy state (sends, dedupe), times as unix milliseconds; round-trips
// exactly. Errors: corrupt_customer.
std::string stateToStorage(const policy::CustomerState& state);
Result<policy::CustomerState> stateFromStorage(std::string_view json);  // "" → empty state

// The normalized contacts a profile (or a message's inline `to`) can be found by, as
// (kind, value) pairs: ("email", lower-cased address), ("phone", E.164), ("telegram", id),
// ("push", token). Used for identity resolution.
// Order: email, phone, telegram, then push tokens as listed; empty values are skipped and a token
// listed twice appears once. Contacts marked invalid are still listed: a dead address still says
// who the customer is.
std::vector<std::pair<std::string, std::string>> contactKeys(const policy::Contacts& contacts);

}  // namespace omnigate::api
