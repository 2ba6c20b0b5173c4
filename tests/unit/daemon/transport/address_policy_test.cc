#include "daemon/transport/address_policy.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cctype>
#include <optional>
#include <string>

namespace omnigate::transport {
namespace {

struct AddressCase {
  std::string text;
  AddressClass expected;
};

class AddressClassification : public ::testing::TestWithParam<AddressCase> {};

std::string caseName(const ::testing::TestParamInfo<AddressCase>& info) {
  std::string name = std::to_string(info.index) + "_";
  for (char c : info.param.text) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return name;
}

TEST_P(AddressClassification, ClassifiesNumericText) {
  const AddressCase& param = GetParam();
  std::optional<AddressClass> got = classifyAddressText(param.text);
  ASSERT_TRUE(got.has_value()) << param.text;
  EXPECT_EQ(*got, param.expected) << param.text << " classified as " << describe(*got);
}

INSTANTIATE_TEST_SUITE_P(
    Ipv4, AddressClassification,
    ::testing::Values(AddressCase{"8.8.8.8", AddressClass::Public},
                      AddressCase{"1.1.1.1", AddressClass::Public},
                      AddressCase{"0.0.0.0", AddressClass::Unspecified},
                      AddressCase{"0.255.255.255", AddressClass::Unspecified},
                      AddressCase{"127.0.0.1", AddressClass::Loopback},
                      AddressCase{"127.255.255.254", AddressClass::Loopback},
                      AddressCase{"10.0.0.1", AddressClass::Private},
                      AddressCase{"10.255.255.255", AddressClass::Private},
                      AddressCase{"172.15.255.255", AddressClass::Public},
                      AddressCase{"172.16.0.0", AddressClass::Private},
                      AddressCase{"172.31.255.255", AddressClass::Private},
                      AddressCase{"172.32.0.0", AddressClass::Public},
                      AddressCase{"192.168.1.1", AddressClass::Private},
                      AddressCase{"192.169.0.1", AddressClass::Public},
                      AddressCase{"100.63.255.255", AddressClass::Public},
                      AddressCase{"100.64.0.1", AddressClass::SharedAddressSpace},
                      AddressCase{"100.127.255.255", AddressClass::SharedAddressSpace},
                      AddressCase{"100.128.0.0", AddressClass::Public},
                      AddressCase{"169.254.0.1", AddressClass::LinkLocal},
                      AddressCase{"169.254.169.254", AddressClass::CloudMetadata},
                      AddressCase{"169.254.170.2", AddressClass::CloudMetadata},
                      AddressCase{"100.100.100.200", AddressClass::CloudMetadata},
                      AddressCase{"192.0.0.192", AddressClass::CloudMetadata},
                      AddressCase{"192.0.0.8", AddressClass::Reserved},
                      AddressCase{"192.0.2.10", AddressClass::Documentation},
                      AddressCase{"198.51.100.7", AddressClass::Documentation},
                      AddressCase{"203.0.113.9", AddressClass::Documentation},
                      AddressCase{"198.18.0.1", AddressClass::Reserved},
                      AddressCase{"198.19.255.255", AddressClass::Reserved},
                      AddressCase{"198.20.0.0", AddressClass::Public},
                      AddressCase{"224.0.0.1", AddressClass::Multicast},
                      AddressCase{"239.255.255.250", AddressClass::Multicast},
                      AddressCase{"240.0.0.1", AddressClass::Reserved},
                      AddressCase{"255.255.255.255", AddressClass::Reserved}),
    caseName);

INSTANTIATE_TEST_SUITE_P(
    Ipv6, AddressClassification,
    ::testing::Values(
        AddressCase{"2001:4860:4860::8888", AddressClass::Public},
        AddressCase{"2606:4700::1111", AddressClass::Public},
        AddressCase{"::", AddressClass::Unspecified}, AddressCase{"::1", AddressClass::Loopback},
        AddressCase{"[::1]", AddressClass::Loopback},
        AddressCase{"fe80::1", AddressClass::LinkLocal},
        AddressCase{"fe80::1%eth0", AddressClass::LinkLocal},
        AddressCase{"febf:ffff::1", AddressClass::LinkLocal},
        AddressCase{"fec0::1", AddressClass::Private},
        AddressCase{"fc00::1", AddressClass::UniqueLocal},
        AddressCase{"fd12:3456::1", AddressClass::UniqueLocal},
        AddressCase{"fd00:ec2::254", AddressClass::CloudMetadata},
        AddressCase{"ff02::1", AddressClass::Multicast},
        AddressCase{"2001:db8::1", AddressClass::Documentation},
        AddressCase{"100::1", AddressClass::Reserved},
        AddressCase{"4000::1", AddressClass::Reserved},
        // IPv4-mapped and other forms that carry an IPv4 address.
        AddressCase{"::ffff:127.0.0.1", AddressClass::Loopback},
        AddressCase{"::ffff:7f00:1", AddressClass::Loopback},
        AddressCase{"::ffff:10.1.2.3", AddressClass::Private},
        AddressCase{"::ffff:169.254.169.254", AddressClass::CloudMetadata},
        AddressCase{"::ffff:8.8.8.8", AddressClass::Public},
        AddressCase{"::127.0.0.1", AddressClass::Loopback},
        AddressCase{"::8.8.8.8", AddressClass::Reserved},
        AddressCase{"64:ff9b::8.8.8.8", AddressClass::Public},
        AddressCase{"64:ff9b::192.168.0.1", AddressClass::Private},
        AddressCase{"64:ff9b:1::1", AddressClass::Private},
        AddressCase{"2002:c0a8:0101::1", AddressClass::Private},  // 6to4 of 192.168.1.1
        AddressCase{"2002:0808:0808::1", AddressClass::Public},   // 6to4 of 8.8.8.8
        AddressCase{"2001:0:4136:e378:8000:63bf:80ff:fffe", AddressClass::Loopback},  // Teredo
        AddressCase{"2001:0:4136:e378:8000:63bf:f7f7:f7f7", AddressClass::Public}),
    caseName);

TEST(AddressText, RejectsTextThatIsNotANumericAddress) {
  for (const char* text : {"", "localhost", "127.1", "0x7f000001", "2130706433", "1.2.3.4.5",
                           "[::1", "::1::2", "example.com"}) {
    EXPECT_FALSE(classifyAddressText(text).has_value()) << text;
  }
}

TEST(SocketAddress, ClassifiesAndPrintsIpv4) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  ASSERT_EQ(inet_pton(AF_INET, "192.168.7.8", &in.sin_addr), 1);
  const auto* address = reinterpret_cast<const sockaddr*>(&in);
  EXPECT_EQ(classifySocketAddress(address, sizeof(in)), AddressClass::Private);
  EXPECT_EQ(socketAddressText(address, sizeof(in)), "192.168.7.8");
  EXPECT_FALSE(classifySocketAddress(address, sizeof(in) - 1).has_value());
}

TEST(SocketAddress, ClassifiesAndPrintsIpv6) {
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  ASSERT_EQ(inet_pton(AF_INET6, "::ffff:169.254.169.254", &in6.sin6_addr), 1);
  const auto* address = reinterpret_cast<const sockaddr*>(&in6);
  EXPECT_EQ(classifySocketAddress(address, sizeof(in6)), AddressClass::CloudMetadata);
  EXPECT_EQ(socketAddressText(address, sizeof(in6)), "::ffff:169.254.169.254");
}

TEST(SocketAddress, UnknownFamilyIsNotClassified) {
  sockaddr unix_like{};
  unix_like.sa_family = AF_UNIX;
  EXPECT_FALSE(classifySocketAddress(&unix_like, sizeof(unix_like)).has_value());
  EXPECT_EQ(socketAddressText(&unix_like, sizeof(unix_like)), "");
  EXPECT_FALSE(classifySocketAddress(nullptr, 0).has_value());
}

TEST(AddressClassDescription, OnlyPublicIsPublic) {
  for (AddressClass address_class :
       {AddressClass::Unspecified, AddressClass::Loopback, AddressClass::Private,
        AddressClass::SharedAddressSpace, AddressClass::LinkLocal, AddressClass::CloudMetadata,
        AddressClass::UniqueLocal, AddressClass::Multicast, AddressClass::Documentation,
        AddressClass::Reserved}) {
    EXPECT_FALSE(isPublic(address_class)) << describe(address_class);
    EXPECT_STRNE(describe(address_class), "public");
  }
  EXPECT_TRUE(isPublic(AddressClass::Public));
}

}  // namespace
}  // namespace omnigate::transport
