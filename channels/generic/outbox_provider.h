#pragma once

#include "channels/provider.h"

namespace omnigate::channels {

// kind "outbox": writes each message as `<dir>/<channel>/<id>.json` — the default for every
// channel in the embedded config, so a fresh install delivers without any external service.
Result<ProviderPtr> makeOutboxProvider(const ProviderConfig& config);

// kind "webhook": POSTs the message JSON to `url`. 2xx accepted; 429 and 5xx retried (429 pauses
// the provider until Retry-After); 408 retried; other 4xx rejected.
Result<ProviderPtr> makeWebhookProvider(const ProviderConfig& config);

}  // namespace omnigate::channels
