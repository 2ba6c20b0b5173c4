#include "daemon/transport/address_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace omnigate::transport {
namespace {

using V4 = std::array<std::uint8_t, 4>;
using V6 = std::array<std::uint8_t, 16>;

struct V4Block {
  V4 base;
  int prefix;
  AddressClass address_class;
};

template <std::size_t N>
bool inBlock(const std::array<std::uint8_t, N>& address, const std::array<std::uint8_t, N>& base,
             int prefix) {
  int full_bytes = prefix / 8;
  for (int i = 0; i < full_bytes; ++i) {
    if (address[i] != base[i]) return false;
  }
  int rest = prefix % 8;
  if (rest == 0) return true;
  auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (address[full_bytes] & mask) == (base[full_bytes] & mask);
}

// Metadata endpoints are listed before the ranges that contain them so that the refusal names the
// more alarming reason.
constexpr V4Block kV4Blocks[] = {
    {{169, 254, 169, 254}, 32, AddressClass::CloudMetadata},  // AWS, GCP, Azure, OpenStack
    {{169, 254, 170, 2}, 32, AddressClass::CloudMetadata},    // AWS ECS task metadata
    {{169, 254, 170, 23}, 32, AddressClass::CloudMetadata},   // AWS EKS pod identity
    {{100, 100, 100, 200}, 32, AddressClass::CloudMetadata},  // Alibaba Cloud
    {{192, 0, 0, 192}, 32, AddressClass::CloudMetadata},      // Oracle Cloud
    {{0, 0, 0, 0}, 8, AddressClass::Unspecified},
    {{10, 0, 0, 0}, 8, AddressClass::Private},
    {{100, 64, 0, 0}, 10, AddressClass::SharedAddressSpace},
    {{127, 0, 0, 0}, 8, AddressClass::Loopback},
    {{169, 254, 0, 0}, 16, AddressClass::LinkLocal},
    {{172, 16, 0, 0}, 12, AddressClass::Private},
    {{192, 0, 0, 0}, 24, AddressClass::Reserved},  // IETF protocol assignments
    {{192, 0, 2, 0}, 24, AddressClass::Documentation},
    {{192, 88, 99, 0}, 24, AddressClass::Reserved},  // deprecated 6to4 relay anycast
    {{192, 168, 0, 0}, 16, AddressClass::Private},
    {{198, 18, 0, 0}, 15, AddressClass::Reserved},  // benchmarking
    {{198, 51, 100, 0}, 24, AddressClass::Documentation},
    {{203, 0, 113, 0}, 24, AddressClass::Documentation},
    {{224, 0, 0, 0}, 4, AddressClass::Multicast},
    {{240, 0, 0, 0}, 4, AddressClass::Reserved},  // includes 255.255.255.255
};

constexpr V6 kAwsMetadataV6 = {0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54};

V4 embeddedV4(const V6& address, std::size_t offset, bool inverted = false) {
  V4 v4{};
  for (std::size_t i = 0; i < 4; ++i) {
    v4[i] = static_cast<std::uint8_t>(inverted ? ~address[offset + i] : address[offset + i]);
  }
  return v4;
}

// For address formats that tunnel an IPv4 address, the IPv4 address decides unless it is public,
// in which case `otherwise` applies.
AddressClass classifyTunnelled(const V4& inner, AddressClass otherwise) {
  AddressClass inner_class = classifyIpv4(inner);
  return isPublic(inner_class) ? otherwise : inner_class;
}

}  // namespace

const char* describe(AddressClass address_class) {
  switch (address_class) {
    case AddressClass::Public:
      return "public";
    case AddressClass::Unspecified:
      return "unspecified";
    case AddressClass::Loopback:
      return "loopback";
    case AddressClass::Private:
      return "private";
    case AddressClass::SharedAddressSpace:
      return "shared address space (CGNAT)";
    case AddressClass::LinkLocal:
      return "link-local";
    case AddressClass::CloudMetadata:
      return "cloud metadata";
    case AddressClass::UniqueLocal:
      return "unique local";
    case AddressClass::Multicast:
      return "multicast";
    case AddressClass::Documentation:
      return "documentation";
    case AddressClass::Reserved:
      return "reserved";
  }
  return "unknown";
}

AddressClass classifyIpv4(const V4& address) {
  for (const auto& block : kV4Blocks) {
    if (inBlock(address, block.base, block.prefix)) return block.address_class;
  }
  return AddressClass::Public;
}

AddressClass classifyIpv6(const V6& address) {
  static constexpr V6 kUnspecified{};
  static constexpr V6 kLoopback = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  static constexpr V6 kMapped = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static constexpr V6 kNat64 = {0x00, 0x64, 0xff, 0x9b};
  static constexpr V6 kNat64Local = {0x00, 0x64, 0xff, 0x9b, 0x00, 0x01};
  static constexpr V6 kDiscard = {0x01, 0x00};
  static constexpr V6 kTeredo = {0x20, 0x01, 0x00, 0x00};
  static constexpr V6 kDocumentation = {0x20, 0x01, 0x0d, 0xb8};
  static constexpr V6 kSixToFour = {0x20, 0x02};
  static constexpr V6 kUniqueLocal = {0xfc};
  static constexpr V6 kLinkLocal = {0xfe, 0x80};
  static constexpr V6 kSiteLocal = {0xfe, 0xc0};
  static constexpr V6 kMulticast = {0xff};

  if (address == kUnspecified) return AddressClass::Unspecified;
  if (address == kLoopback) return AddressClass::Loopback;
  if (address == kAwsMetadataV6) return AddressClass::CloudMetadata;
  if (inBlock(address, kMapped, 96)) return classifyIpv4(embeddedV4(address, 12));
  // Deprecated IPv4-compatible form (::a.b.c.d): no legitimate destination uses it.
  if (inBlock(address, kUnspecified, 96)) {
    return classifyTunnelled(embeddedV4(address, 12), AddressClass::Reserved);
  }
  if (inBlock(address, kNat64, 96)) {
    return classifyTunnelled(embeddedV4(address, 12), AddressClass::Public);
  }
  if (inBlock(address, kNat64Local, 48)) return AddressClass::Private;
  if (inBlock(address, kDiscard, 64)) return AddressClass::Reserved;
  if (inBlock(address, kDocumentation, 32)) return AddressClass::Documentation;
  // Teredo carries the client's IPv4 address bit-inverted in the last 32 bits.
  if (inBlock(address, kTeredo, 32)) {
    return classifyTunnelled(embeddedV4(address, 12, true), AddressClass::Public);
  }
  if (inBlock(address, kSixToFour, 16)) {
    return classifyTunnelled(embeddedV4(address, 2), AddressClass::Public);
  }
  if (inBlock(address, kUniqueLocal, 7)) return AddressClass::UniqueLocal;
  if (inBlock(address, kLinkLocal, 10)) return AddressClass::LinkLocal;
  if (inBlock(address, kSiteLocal, 10)) return AddressClass::Private;
  if (inBlock(address, kMulticast, 8)) return AddressClass::Multicast;
  // Only 2000::/3 is allocated as global unicast.
  if ((address[0] & 0xe0) != 0x20) return AddressClass::Reserved;
  return AddressClass::Public;
}

std::optional<AddressClass> classifyAddressText(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  if (auto zone = text.find('%'); zone != std::string_view::npos) text = text.substr(0, zone);
  if (text.empty() || text.size() > INET6_ADDRSTRLEN) return std::nullopt;
  std::string terminated(text);
  V4 v4{};
  if (inet_pton(AF_INET, terminated.c_str(), v4.data()) == 1) return classifyIpv4(v4);
  V6 v6{};
  if (inet_pton(AF_INET6, terminated.c_str(), v6.data()) == 1) return classifyIpv6(v6);
  return std::nullopt;
}

std::optional<AddressClass> classifySocketAddress(const sockaddr* address, socklen_t length) {
  if (address == nullptr) return std::nullopt;
  if (address->sa_family == AF_INET && length >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    sockaddr_in in{};
    std::memcpy(&in, address, sizeof(in));
    V4 v4{};
    std::memcpy(v4.data(), &in.sin_addr, v4.size());
    return classifyIpv4(v4);
  }
  if (address->sa_family == AF_INET6 && length >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, address, sizeof(in6));
    V6 v6{};
    std::memcpy(v6.data(), &in6.sin6_addr, v6.size());
    return classifyIpv6(v6);
  }
  return std::nullopt;
}

std::string socketAddressText(const sockaddr* address, socklen_t length) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address == nullptr) return {};
  if (address->sa_family == AF_INET && length >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    sockaddr_in in{};
    std::memcpy(&in, address, sizeof(in));
    if (inet_ntop(AF_INET, &in.sin_addr, text, sizeof(text)) != nullptr) return text;
  }
  if (address->sa_family == AF_INET6 && length >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, address, sizeof(in6));
    if (inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof(text)) != nullptr) return text;
  }
  return {};
}

}  // namespace omnigate::transport
