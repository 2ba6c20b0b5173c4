#pragma once

// The entry point of an out-of-tree provider plugin: a shared object that exports
//
//   extern "C" const OmnigatePlugin* omnigate_plugin_entry(void);
//
// and is listed in the config under [plugins] load. The daemon refuses a plugin whose
// abi_version differs from kOmnigatePluginAbiVersion: providers are C++ objects that cross the
// boundary (channels/provider.h), so a plugin must be built against the same contract, with the
// same compiler, as the daemon that loads it. Bump the version whenever provider.h changes in a
// way that alters layouts or virtual tables. Symbols a plugin uses from the contract (the
// Provider base class defaults) are resolved against the omnigated executable at load time.
//
// See channels/examples/ for a complete plugin and its CMake target.

#include "channels/provider.h"

inline constexpr int kOmnigatePluginAbiVersion = 2;  // 2: OutboundMessage::expires_unix_ms

extern "C" {

struct OmnigateProviderKind {
  const char* kind;  // the `kind` admins write in [providers.<name>]
  omnigate::channels::ProviderFactory factory;
};

struct OmnigatePlugin {
  int abi_version;  // kOmnigatePluginAbiVersion of the headers the plugin was built with
  const char* name;
  const OmnigateProviderKind* kinds;
  int kind_count;
};

using OmnigatePluginEntry = const OmnigatePlugin* (*)();

}  // extern "C"
