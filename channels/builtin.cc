#include "channels/generic/outbox_provider.h"
#include "channels/registry.h"

namespace omnigate::channels {

// Every compiled-in provider kind, registered explicitly (no static-initialiser magic).
void registerBuiltinProviders(ProviderRegistry& registry) {
  auto must = [](Status status) {
    if (!status) std::abort();  // a duplicate kind here is a programming error
  };
  must(registry.add("outbox", &makeOutboxProvider));
  must(registry.add("webhook", &makeWebhookProvider));
}

}  // namespace omnigate::channels
