#pragma once

#include "channels/provider.h"

namespace omnigate::channels {

// kind "fcm": Firebase Cloud Messaging HTTP v1, one registration token per request.
//
// Settings:
//   service_account   the service-account JSON key (the config loader reads
//                     `service_account_file` into it): client_email, private_key (RSA PEM),
//                     private_key_id, token_uri, project_id (required)
//   project_id        overrides the key file's project_id
//   base_url          default https://fcm.googleapis.com (tests point it at a fake)
//   token_url         overrides the key file's token_uri (also the JWT audience)
//   android_priority  high | normal (default: FCM decides)
//   ttl               how long FCM keeps an undelivered message, e.g. "1h", 0 to 28 days
//                     (default: what is left of the message's own ttl, when it has one)
//   collapse_key      Android collapse key for every message; data "collapse_key" wins
//   validate_only     true: FCM checks but never delivers (a dry run)
//
// Credential: an OAuth2 access token from the JWT-bearer grant (RS256 assertion, scope
// firebase.messaging, exp = iat + 1 h), fetched by the daemon and refreshed 5 minutes before it
// expires.
//
// Message: notification {title, body} from the message title and text; `data` with every value
// turned into a string (FCM accepts nothing else); the keys FCM reserves ("from",
// "message_type", "google*", "gcm*") are refused before sending, as are payloads whose
// notification and data exceed FCM's 4096 bytes. A recipient_platform other than "fcm" is refused.
//
// Replies, by FcmError detail first, then the RPC status, then the HTTP status: UNREGISTERED, and
// INVALID_ARGUMENT about the registration token (or an APNs Unregistered/BadDeviceToken detail)
// mark the token dead; other INVALID_ARGUMENT rejects the message. QUOTA_EXCEEDED retries no
// earlier than 60 s and pauses the provider. UNAVAILABLE and INTERNAL retry honouring
// Retry-After (UNAVAILABLE also pauses: the service, not the message, is overloaded).
// SENDER_ID_MISMATCH, THIRD_PARTY_AUTH_ERROR and PERMISSION_DENIED are Misconfigured: a wrong
// project would otherwise condemn every token it touched. 401 without a detail means our access
// token was refused: refresh_credential and retry.
Result<ProviderPtr> makeFcmProvider(const ProviderConfig& config);

}  // namespace omnigate::channels
