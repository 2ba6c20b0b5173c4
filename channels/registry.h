#pragma once

// Provider kinds by name. Built-in kinds are registered explicitly by registerBuiltinProviders;
// out-of-tree kinds are added the same way by the plugin loader.

#include <map>
#include <string>
#include <vector>

#include "channels/provider.h"

namespace omnigate::channels {

class ProviderRegistry {
 public:
  Status add(const std::string& kind, ProviderFactory factory);
  bool has(const std::string& kind) const { return factories_.count(kind) != 0; }
  Result<ProviderPtr> create(const ProviderConfig& config) const;
  std::vector<std::string> kinds() const;

 private:
  std::map<std::string, ProviderFactory> factories_;
};

void registerBuiltinProviders(ProviderRegistry& registry);

}  // namespace omnigate::channels
