#include "channels/email/address.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>

namespace omnigate::channels::email {
namespace {

struct AddressCase {
  std::string address;
  bool valid;
  friend void PrintTo(const AddressCase& c, std::ostream* out) { *out << "'" << c.address << "'"; }
};

class AddressTest : public ::testing::TestWithParam<AddressCase> {};

TEST_P(AddressTest, AcceptsOnlySaneAddrSpecs) {
  EXPECT_EQ(isValidAddress(GetParam().address), GetParam().valid);
}

INSTANTIATE_TEST_SUITE_P(
    Addresses, AddressTest,
    ::testing::Values(
        AddressCase{"petya@example.net", true},
        AddressCase{"first.last+tag@mail.example.co.uk", true},
        AddressCase{"o'hara!#$%&*=?^_`{|}~-@x.example", true},
        AddressCase{"user@[192.0.2.1]", true}, AddressCase{"user@localhost", true},
        AddressCase{"", false}, AddressCase{"no-at.example", false},
        AddressCase{"two@@example.net", false}, AddressCase{"a@b@example.net", false},
        AddressCase{"@example.net", false}, AddressCase{"user@", false},
        AddressCase{"with space@example.net", false}, AddressCase{"<user@example.net>", false},
        AddressCase{"user@example.net>", false}, AddressCase{"user@exa mple.net", false},
        AddressCase{".lead@example.net", false}, AddressCase{"trail.@example.net", false},
        AddressCase{"dou..ble@example.net", false}, AddressCase{"user@-bad.example", false},
        AddressCase{"user@bad-.example", false}, AddressCase{"user@example..net", false},
        AddressCase{"\"quoted\"@example.net", false},
        AddressCase{"пользователь@example.net", false},  // needs SMTPUTF8
        AddressCase{"user@example.net\r\nBcc: x@evil", false},
        AddressCase{std::string("nul\0@example.net", 16), false},
        AddressCase{std::string(65, 'a') + "@example.net", false},
        AddressCase{"a@" + std::string(64, 'b') + ".example", false}));

struct MailboxCase {
  std::string text;
  std::string name;
  std::string address;
  std::string error;  // empty: parses
  friend void PrintTo(const MailboxCase& c, std::ostream* out) { *out << "'" << c.text << "'"; }
};

class MailboxTest : public ::testing::TestWithParam<MailboxCase> {};

TEST_P(MailboxTest, SplitsNameAndAddress) {
  auto mailbox = parseMailbox(GetParam().text);
  if (!GetParam().error.empty()) {
    ASSERT_FALSE(mailbox.ok());
    EXPECT_EQ(mailbox.error().code, GetParam().error);
    return;
  }
  ASSERT_TRUE(mailbox.ok()) << mailbox.error().message;
  EXPECT_EQ(mailbox->name, GetParam().name);
  EXPECT_EQ(mailbox->address, GetParam().address);
}

INSTANTIATE_TEST_SUITE_P(
    Mailboxes, MailboxTest,
    ::testing::Values(MailboxCase{"noreply@shop.example", "", "noreply@shop.example", ""},
                      MailboxCase{"  Shop <noreply@shop.example>  ", "Shop", "noreply@shop.example",
                                  ""},
                      MailboxCase{"<noreply@shop.example>", "", "noreply@shop.example", ""},
                      MailboxCase{"\"Shop, Inc. \\\"Best\\\"\" <a@shop.example>",
                                  "Shop, Inc. \"Best\"", "a@shop.example", ""},
                      MailboxCase{"Магазин <a@shop.example>", "Магазин", "a@shop.example", ""},
                      MailboxCase{"Shop <not an address>", "", "", "invalid_address"},
                      MailboxCase{"Shop <a@shop.example", "", "", "invalid_address"},
                      MailboxCase{"Shop\r\nBcc: x@evil <a@shop.example>", "", "", "invalid_header"},
                      MailboxCase{"", "", "", "invalid_address"}));

TEST(AddressDomainTest, IsThePartAfterTheAt) {
  EXPECT_EQ(addressDomain("noreply@shop.example"), "shop.example");
  EXPECT_EQ(addressDomain("nothing"), "");
}

}  // namespace
}  // namespace omnigate::channels::email
