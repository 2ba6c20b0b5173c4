#include "channels/registry.h"

namespace omnigate::channels {

Status ProviderRegistry::add(const std::string& kind, ProviderFactory factory) {
  if (kind.empty() || factory == nullptr) {
    return makeError("invalid_provider_kind", "a provider kind needs a name and a factory");
  }
  if (!factories_.emplace(kind, factory).second) {
    return makeError("duplicate_provider_kind", "provider kind '" + kind + "' is registered twice");
  }
  return Ok{};
}

Result<ProviderPtr> ProviderRegistry::create(const ProviderConfig& config) const {
  auto it = factories_.find(config.kind);
  if (it == factories_.end()) {
    std::string known;
    for (const auto& [kind, factory] : factories_) known += (known.empty() ? "" : ", ") + kind;
    return makeError("setting:kind",
                     "unknown provider kind '" + config.kind + "' (known: " + known + ")");
  }
  return it->second(config);
}

std::vector<std::string> ProviderRegistry::kinds() const {
  std::vector<std::string> out;
  for (const auto& [kind, factory] : factories_) out.push_back(kind);
  return out;
}

}  // namespace omnigate::channels
