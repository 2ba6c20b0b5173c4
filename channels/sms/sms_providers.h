#pragma once

// SMS provider kinds. Every kind counts segments at encode (GSM-7 or UCS-2, see segments.h),
// refuses a text over `max_segments` (1..255, default 10) before anything is sent, and reports
// the count in Verdict::segments. `from_<category>` overrides `from` for one category
// (e.g. from_marketing = "ShopPromo"). The recipient must already be E.164 (phone_number.h).

#include "channels/provider.h"

namespace omnigate::channels {

// kind "twilio": Twilio Programmable Messaging, POST {base_url}/2010-04-01/Accounts/{sid}/
// Messages.json, form-encoded, HTTP basic auth.
//
// Settings:
//   account_sid            AC... (required); also the basic-auth user unless api_key_sid is set
//   auth_token             required (the config loader reads `auth_token_file` into it); signs
//                          status callbacks, and is the basic-auth password without api_key_sid
//   api_key_sid            SK...: authenticate REST calls with an API key instead
//   api_key_secret         the API key's secret (api_key_secret_file)
//   from                   sender: a Twilio number, short code or alphanumeric id
//   messaging_service_sid  MG...: used when no `from` applies to the message's category
//   from_<category>        sender for one category
//   base_url               default https://api.twilio.com (tests point it at a fake)
//   status_callback_url    sent as StatusCallback; the public URL of /v1/callbacks/{provider}
//   validity_period        seconds (1..36000) Twilio keeps trying to deliver
//   max_segments
//
// Replies: 201/200 → Accepted with `sid` (and Twilio's num_segments when it has counted them).
// By Twilio error code: 20429/429 → Retry after Retry-After, provider paused; 20003/401 and
// 20404 (wrong account), 21606 (From cannot send SMS), 30002 (account suspended) → Misconfigured,
// paused; 21408 (region not enabled) and 21608 (trial account, unverified To) → Misconfigured for
// this message only; 21211, 21612, 21614, 21635 → RecipientDead; 21610 (STOP) → OptedOut;
// other 4xx → Rejected; 5xx → Retry.
//
// Callbacks: form POSTs signed with X-Twilio-Signature = base64(HMAC-SHA1(auth_token, URL +
// every POST parameter name and value sorted by name)). InboundRequest::url must be the URL
// exactly as Twilio called it, query string included. MessageStatus delivered / read /
// undelivered / failed / canceled become receipts keyed by MessageSid; intermediate statuses
// yield none.
Result<ProviderPtr> makeTwilioProvider(const ProviderConfig& config);

// kind "kannel": Kannel smsbox HTTP `sendsms`.
//
// Settings:
//   url          the sendsms URL, e.g. http://127.0.0.1:13013/cgi-bin/sendsms (required)
//   username, password   a sendsms-user (required; password_file works)
//   from, from_<category>  sender (optional when Kannel has a global-sender)
//   method       get (default: everything in the query string) | post (text in the body,
//                parameters in X-Kannel-* headers)
//   smsc         route to one SMSC id
//   dlr_url      public URL of /v1/callbacks/{provider}; when set, every message asks for
//                delivery reports with `dlr_mask`, and the URL Kannel calls carries our message
//                id, the report type (%d), the SMSC reply (%A) and a signature token
//   dlr_mask     default 31 (everything); 1..63
//   dlr_secret   key for the token in the DLR URL (default: `password`), so nobody who merely
//                knows the callback URL can forge receipts
//   charset      utf-8 (default: Kannel converts to GSM-7 or UCS-2) | utf-16be (UCS-2 texts are
//                sent pre-converted with charset=UTF-16BE, for SMSCs that want raw UCS-2)
//   max_segments
//
// Texts that are not GSM-7 go with coding=2 (UCS-2). Kannel returns no message id, so the
// message's own id is the provider_message_id, and the DLR URL echoes it back.
//
// Replies (gw/smsbox.c): 202 "0: Accepted for delivery" / "3: Queued for later delivery" /
// "Sent." → Accepted; 403 "Authorization failed" and 404 (wrong URL) and 400 "Sender missing"
// → Misconfigured, paused; 400 "denied by white- and/or black-lists" → RecipientDead;
// 403 "Not routable" and other 400s → Rejected; 503 → Retry, paused; other 5xx → Retry.
//
// Callbacks: GET (or form POST) to the dlr_url with id, type, token[, reply]. Type 1 → Delivered,
// 2 (phone) and 16 (SMSC reject) → Failed, 4/8/32 (intermediate) → no receipt.
Result<ProviderPtr> makeKannelProvider(const ProviderConfig& config);

// kind "http_sms": a configurable HTTP aggregator.
//
// Settings:
//   url            may contain placeholders (percent-encoded when substituted) (required)
//   method         POST (default) | GET | PUT
//   content_type   default application/x-www-form-urlencoded; also application/json, text/xml,
//                  application/xml, text/plain (anything else: raw substitution)
//   body           the body template. Placeholders {to} {text} {from} {id} {category} are
//                  escaped for the content type: form → percent-encoded, JSON → the inside of a
//                  JSON string (write the quotes: {"to":"{to}"}), XML → entities, other → raw.
//                  Default for form: to={to}&text={text}&from={from}
//   success_regex       the 2xx reply body must match (ECMAScript regex, searched)
//   success_json_path   dotted path into the JSON reply ("result.status", "messages.0.ok") that
//                       must be present and truthy, or equal success_json_value if that is set
//   success_json_value  expected text of that value
//   message_id_json_path  where the provider's message id is (e.g. "message_id")
//   auth_token     sent as `<auth_header>: <auth_scheme> <auth_token>` (auth_token_file works)
//   auth_header    default Authorization;   auth_scheme   default Bearer ("" sends the bare token)
//   from, from_<category>, max_segments
//   allow_private  true to allow a loopback/private destination (default false)
//
// Replies: 2xx that passes the success checks → Accepted; a 2xx that fails them → Rejected (the
// aggregator refused it; retrying could send twice); 429 → Retry, paused; 401/403 →
// Misconfigured, paused; 408/5xx → Retry; other 4xx → Rejected.
Result<ProviderPtr> makeHttpSmsProvider(const ProviderConfig& config);

}  // namespace omnigate::channels
