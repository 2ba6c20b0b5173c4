#include "channels/email/smtp_provider.h"
#include "channels/generic/outbox_provider.h"
#include "channels/messenger/messenger_providers.h"
#include "channels/push/apns_provider.h"
#include "channels/push/fcm_provider.h"
#include "channels/registry.h"
#include "channels/sms/sms_providers.h"

namespace omnigate::channels {

// Every compiled-in provider kind, registered explicitly (no static-initialiser magic).
void registerBuiltinProviders(ProviderRegistry& registry) {
  auto must = [](Status status) {
    if (!status) std::abort();  // a duplicate kind here is a programming error
  };
  must(registry.add("outbox", &makeOutboxProvider));
  must(registry.add("webhook", &makeWebhookProvider));
  must(registry.add("smtp", &makeSmtpProvider));
  must(registry.add("twilio", &makeTwilioProvider));
  must(registry.add("kannel", &makeKannelProvider));
  must(registry.add("http_sms", &makeHttpSmsProvider));
  must(registry.add("telegram", &makeTelegramProvider));
  must(registry.add("whatsapp", &makeWhatsappProvider));
  must(registry.add("chat_webhook", &makeChatWebhookProvider));
  must(registry.add("fcm", &makeFcmProvider));
  must(registry.add("apns", &makeApnsProvider));
}

}  // namespace omnigate::channels
