#pragma once

// Which destination addresses an outbound request may reach when the caller asked for SSRF
// protection. The decision is made on the address the transport actually connects to (after DNS),
// so rebinding a public name to an internal address does not get through.

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace omnigate::transport {

enum class AddressClass {
  Public,
  Unspecified,         // 0.0.0.0/8, ::
  Loopback,            // 127.0.0.0/8, ::1
  Private,             // RFC 1918, deprecated IPv6 site-local, local-use NAT64
  SharedAddressSpace,  // 100.64.0.0/10 (carrier-grade NAT)
  LinkLocal,           // 169.254.0.0/16, fe80::/10
  CloudMetadata,       // instance metadata endpoints (169.254.169.254, fd00:ec2::254, ...)
  UniqueLocal,         // fc00::/7
  Multicast,           // 224.0.0.0/4, ff00::/8
  Documentation,       // TEST-NET-1/2/3, 2001:db8::/32
  Reserved,            // everything else that is not global unicast
};

const char* describe(AddressClass address_class);

inline bool isPublic(AddressClass address_class) { return address_class == AddressClass::Public; }

AddressClass classifyIpv4(const std::array<std::uint8_t, 4>& address);
AddressClass classifyIpv6(const std::array<std::uint8_t, 16>& address);

// Numeric IPv4 (strict dotted quad) or IPv6 text, optionally in brackets or with a zone id.
// nullopt when the text is not a numeric address.
std::optional<AddressClass> classifyAddressText(std::string_view text);

// nullopt for families other than AF_INET / AF_INET6 or a truncated address.
std::optional<AddressClass> classifySocketAddress(const sockaddr* address, socklen_t length);

// The address of a socket address as text ("127.0.0.1", "::1"); empty when not IPv4/IPv6.
std::string socketAddressText(const sockaddr* address, socklen_t length);

}  // namespace omnigate::transport
