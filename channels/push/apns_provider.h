#pragma once

#include <string>

#include "channels/provider.h"

namespace omnigate::channels {

// kind "apns": Apple Push Notification service, token (JWT) authentication, HTTP/2 only.
//
// Settings:
//   team_id      10-character Team ID, the JWT's `iss` (required)
//   key_id       10-character Key ID of the .p8 key, the JWT's `kid` (required)
//   private_key  the .p8 (PKCS#8 P-256) PEM; the config loader reads `private_key_file` into it
//   topic        the app's bundle id (required); the suffix a push type needs (".voip",
//                ".push-type.liveactivity", ...) is appended when missing
//   base_url     default https://api.push.apple.com; https://api.sandbox.push.apple.com for
//                development builds
//   push_type    alert (default), background, voip, location, complication, fileprovider, mdm,
//                liveactivity, pushtotalk, widgets, controls
//   priority     10, 5 or 1 (default: 10, and 5 for background, which APNs requires)
//   expiration   how long APNs keeps an undeliverable notification, e.g. "1h" (default: until
//                the message's own ttl, when it has one); "0" means deliver
//                at most once, immediately (default: APNs decides)
//
// Requests: POST <base_url>/3/device/<hex token> over HTTP/2 (HttpVersion::Http2Required), one
// connection pool per team and key (pool_key "team_id:key_id") because APNs binds a connection
// to the key it first saw. apns-id is a name-based UUID of our message id, so a retry carries
// the same apns-id as the first attempt. A data "collapse_id" (or "collapse_key") becomes
// apns-collapse-id (at most 64 bytes); a data "aps" object is merged into the payload's aps.
// Payloads above 4096 bytes (5120 for voip) are refused before sending.
//
// Credential: an ES256 JWT minted locally, replaced 40 minutes after it was issued. APNs refuses
// tokens older than 60 minutes and answers TooManyProviderTokenUpdates to tokens replaced more
// often than every 20; 40 sits in the middle, leaving 20 minutes for clock skew between us and
// Apple and for a refresh that has to wait.
//
// Replies: 200 accepted (the provider message id is the returned apns-id). BadDeviceToken,
// DeviceTokenNotForTopic, Unregistered and ExpiredToken mark the token dead. ExpiredProviderToken
// asks for a fresh JWT and one more try. Bad topic, certificate, key or environment reasons are
// Misconfigured (the provider pauses, the message waits). TooManyRequests retries later for this
// token only; TooManyProviderTokenUpdates and ServiceUnavailable pause the provider;
// InternalServerError, Shutdown and IdleTimeout retry. Payload, header and path reasons reject the
// message. A reply that did not come over HTTP/2 did not come from APNs (a proxy or a wrong
// base_url answered), so it is Misconfigured whatever its status: retrying cannot fix it.
Result<ProviderPtr> makeApnsProvider(const ProviderConfig& config);

namespace push {
// RFC 4122 version-5 UUID of `name` in omnigate's apns-id namespace, lowercase 8-4-4-4-12.
std::string apnsIdFor(const std::string& name);
}  // namespace push

}  // namespace omnigate::channels
