#pragma once

#include "channels/provider.h"

namespace omnigate::channels {

// kind "smtp": submits each message to an SMTP server, one recipient per transaction, as a MIME
// message built by channels/email/mime.h.
//
// Settings:
//   url               smtp://host:port[/ehlo-name] or smtps://host:port (required)
//   from              "Name <address>" or "address" (required); its domain names the Message-ID
//   username          AUTH user; with password
//   password          AUTH password (the config loader reads `password_file` into it)
//   require_starttls  true (default): smtp:// must upgrade with STARTTLS or fail. Credentials
//                     are refused over a plain connection unless the host is loopback.
//   reply_to          "Name <address>" or "address"
//   envelope_from     MAIL FROM address (default: the from address); "{id}" becomes the message
//                     id, for VERP-style bounce addresses such as "bounces+{id}@shop.example"
//   list_unsubscribe  one URI or an array of them (https:, mailto:); "{id}" becomes the message
//                     id, which identifies both the recipient and the category to the daemon's
//                     unsubscribe handler. Sent only for unsubscribe_categories; an https: URI
//                     also adds RFC 8058 one-click (List-Unsubscribe-Post).
//   unsubscribe_categories  categories that carry List-Unsubscribe (default ["marketing"])
//
// Replies (RFC 5321, enhanced codes RFC 3463): 2xx accepted. 4xx retry (421 and 454 also pause
// the provider: the server, not the message, is unavailable). 530/534/535/538, and rejections
// of our sender (x.1.7, x.1.8, "sender", "relay") are Misconfigured and pause the provider.
// 5.1.x (but x.1.7/x.1.8), 5.2.1, 551, and 550/553 whose text says the user is unknown mark the
// recipient dead. 552 with 5.2.2 or a full mailbox is retried (RFC 5321 §4.5.3.1.10); other 5xx
// reject the message. Connection failures and timeouts retry; a TLS failure while TLS is
// required is Misconfigured and pauses the provider, because retrying cannot fix a server
// without STARTTLS or a certificate we do not trust, and sending in clear is not an option.
Result<ProviderPtr> makeSmtpProvider(const ProviderConfig& config);

}  // namespace omnigate::channels
