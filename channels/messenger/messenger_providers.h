#pragma once

// Messenger provider kinds: Telegram bots, the WhatsApp Business Cloud API and Slack/Mattermost
// incoming webhooks.

#include <string>
#include <string_view>

#include "channels/provider.h"

namespace omnigate::channels {

// kind "telegram": Bot API sendMessage, JSON body, to the chat id in the message's recipient
// (a number, or "@channelusername").
//
// Settings:
//   bot_token    required (bot_token_file works); it sits in the URL path, keep URLs out of logs
//   base_url     default https://api.telegram.org
//   parse_mode   none (default) | MarkdownV2 | HTML. The message text is plain text: it is
//                escaped for the chosen mode so it always arrives literally and never fails with
//                "can't parse entities".
//   disable_notification  true to deliver silently (default false)
//
// Texts longer than 4096 UTF-16 units (Telegram's limit) or empty are refused at encode.
// Replies: ok:true → Accepted with result.message_id. 429 → Retry no earlier than
// parameters.retry_after (or Retry-After), provider paused. 403 "bot was blocked by the user",
// "user is deactivated", kicked/not a member/can't initiate → RecipientDead; 400 "chat not
// found" → RecipientDead; 400 migrate_to_chat_id → RecipientDead with provider_code
// "migrate_to_chat_id:<new id>" (the chat lives on under the new id); other 400 → Rejected;
// 401/404 → Misconfigured, paused; 5xx → Retry.
Result<ProviderPtr> makeTelegramProvider(const ProviderConfig& config);

// kind "whatsapp": POST {base_url}/{phone_number_id}/messages with a bearer token.
//
// Settings:
//   access_token       required (access_token_file works)
//   phone_number_id    required
//   base_url           default https://graph.facebook.com/v19.0
//   app_secret         verifies status webhooks (X-Hub-Signature-256); without it every
//                      callback is refused
//   template_name      send the approved template of that name instead of free text (needed
//                      outside the 24-hour customer-service window); the message text, when
//                      present, fills the body's single parameter {{1}}
//   template_language  template language code; default: the message locale with '-' as '_'
//                      ("ru-RU" → "ru_RU"), else "en_US"
//   preview_url        true to let WhatsApp render link previews in text messages
//
// A message whose data carries {"whatsapp_template": {"name": ..., "language": ...,
// "components": [...]}} is sent as that template whatever the settings say.
// Recipients are E.164; the leading '+' is dropped as WhatsApp expects.
//
// Replies, by Graph error `code` (Meta: never by message text or HTTP status): rate limits
// (4, 80007, 130429, 613, 131048) → Retry, paused; 131056 (pair rate limit) → Retry for this
// message only; 1, 2, 131000, 131016 → Retry; 0, 190 (token), 3, 10, 200-299 (permissions),
// 368, 131031 (blocked), 131030, 133010, 132001, 132015, 132016 (template missing/paused/
// disabled) → Misconfigured, paused; 131026 → RecipientDead; 131050 → OptedOut; 131047 (outside
// the 24 h window), 131049, parameter and template errors → Rejected. Unknown codes fall back to
// the HTTP status.
//
// Callbacks: X-Hub-Signature-256 = "sha256=" + hex HMAC-SHA256(app_secret, raw body); statuses
// delivered / read / failed (with the first error's code and title) become receipts keyed by
// the wamid; "sent" yields none.
Result<ProviderPtr> makeWhatsappProvider(const ProviderConfig& config);

// kind "chat_webhook": Slack or Mattermost incoming webhook, JSON {"text": ...}.
//
// Settings:
//   url            the webhook URL (required; it is the secret, keep it out of logs)
//   flavor         slack (default: &, < and > are escaped as Slack's mrkdwn requires) |
//                  mattermost (Markdown; no entity escaping)
//   username, channel, icon_emoji   overrides that legacy webhooks honour
//   allow_private  true to allow a loopback/private destination (default false)
//
// The webhook, not the customer, is the destination, so the recipient is ignored and a dead
// webhook (404 channel_not_found / no_service, 410 channel_is_archived, 403) is Misconfigured
// with the provider paused rather than a dead contact. 429 → Retry after Retry-After, paused;
// 5xx → Retry; other 4xx → Rejected.
Result<ProviderPtr> makeChatWebhookProvider(const ProviderConfig& config);

// Telegram's escaping rules, for text sent with parse_mode MarkdownV2 or HTML.
std::string escapeTelegramMarkdownV2(std::string_view text);
std::string escapeTelegramHtml(std::string_view text);
// Slack mrkdwn: &, < and > as entities.
std::string escapeSlackText(std::string_view text);

}  // namespace omnigate::channels
