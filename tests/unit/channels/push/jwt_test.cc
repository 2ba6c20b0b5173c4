#include "channels/push/jwt.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <boost/json.hpp>
#include <functional>
#include <ostream>
#include <string>

#include "tests/unit/channels/push/test_keys.h"

namespace omnigate::channels::push {
namespace {

using testing::otherP256Key;
using testing::otherRsaKey;
using testing::p256Key;
using testing::rsaKey;

JwtKey mustKey(Result<JwtKey> key) {
  if (!key.ok()) throw std::runtime_error(key.error().code + ": " + key.error().message);
  return std::move(key.value());
}

// Verifies a DER ECDSA signature with nothing but OpenSSL, as an APNs-like verifier would.
bool opensslVerifiesDer(const std::string& public_pem, const std::string& input,
                        const std::string& der) {
  BIO* bio = BIO_new_mem_buf(public_pem.data(), static_cast<int>(public_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok =
      key != nullptr && EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
      EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(der.data()), der.size(),
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  return ok;
}

// ---- base64url -------------------------------------------------------------------------------

struct Base64Case {
  std::string bytes;
  std::string encoded;
};

void PrintTo(const Base64Case& c, std::ostream* os) { *os << c.encoded; }

class Base64UrlTest : public ::testing::TestWithParam<Base64Case> {};

TEST_P(Base64UrlTest, EncodesWithoutPaddingAndDecodesBack) {
  EXPECT_EQ(base64UrlEncode(GetParam().bytes), GetParam().encoded);
  auto decoded = base64UrlDecode(GetParam().encoded);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded.value(), GetParam().bytes);
}

INSTANTIATE_TEST_SUITE_P(
    Rfc4648Vectors, Base64UrlTest,
    ::testing::Values(Base64Case{"", ""}, Base64Case{"f", "Zg"}, Base64Case{"fo", "Zm8"},
                      Base64Case{"foo", "Zm9v"}, Base64Case{"foob", "Zm9vYg"},
                      Base64Case{"fooba", "Zm9vYmE"}, Base64Case{"foobar", "Zm9vYmFy"},
                      Base64Case{"\xfb\xff", "-_8"}, Base64Case{std::string("\0\0\0", 3), "AAAA"}));

TEST(Base64UrlDecode, AcceptsPaddingAndRefusesTheStandardAlphabet) {
  EXPECT_EQ(base64UrlDecode("Zg==").value(), "f");
  EXPECT_FALSE(base64UrlDecode("Zm+v").ok());
  EXPECT_FALSE(base64UrlDecode("Zm/v").ok());
  EXPECT_FALSE(base64UrlDecode("Zm9vY").ok());  // one leftover character cannot be a byte
  EXPECT_FALSE(base64UrlDecode("Zm 9v").ok());
}

// ---- keys --------------------------------------------------------------------------------------

struct KeyCase {
  std::string name;
  std::function<std::string()> pem;  // made when the case runs, not when tests are listed
  JwtAlgorithm algorithm;
  bool ok;
};

void PrintTo(const KeyCase& c, std::ostream* os) { *os << c.name; }

class PrivateKeyTest : public ::testing::TestWithParam<KeyCase> {};

TEST_P(PrivateKeyTest, AcceptsOnlyTheAlgorithmsKeyType) {
  auto key = JwtKey::fromPrivateKeyPem(GetParam().pem(), GetParam().algorithm);
  EXPECT_EQ(key.ok(), GetParam().ok) << (key.ok() ? "" : key.error().message);
  if (!key.ok()) {
    EXPECT_EQ(key.error().code, "bad_key");
  }
}

INSTANTIATE_TEST_SUITE_P(
    Keys, PrivateKeyTest,
    ::testing::Values(
        KeyCase{"rsa_for_rs256", [] { return rsaKey().private_pem; }, JwtAlgorithm::Rs256, true},
        KeyCase{"p256_for_es256", [] { return p256Key().private_pem; }, JwtAlgorithm::Es256, true},
        KeyCase{"rsa_for_es256", [] { return rsaKey().private_pem; }, JwtAlgorithm::Es256, false},
        KeyCase{"p256_for_rs256", [] { return p256Key().private_pem; }, JwtAlgorithm::Rs256, false},
        KeyCase{"p384_for_es256",
                [] { return testing::generateKeyPair("EC", "P-384").private_pem; },
                JwtAlgorithm::Es256, false},
        KeyCase{"rsa1024_for_rs256",
                [] { return testing::generateKeyPair("RSA", "1024").private_pem; },
                JwtAlgorithm::Rs256, false},
        KeyCase{"public_key_as_private", [] { return rsaKey().public_pem; }, JwtAlgorithm::Rs256,
                false},
        KeyCase{"garbage",
                [] {
                  return std::string(
                      "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n");
                },
                JwtAlgorithm::Rs256, false},
        KeyCase{"empty", [] { return std::string(); }, JwtAlgorithm::Es256, false}),
    [](const auto& info) { return info.param.name; });

TEST(JwtKey, PublicKeyVerifiesButCannotSign) {
  auto key = mustKey(JwtKey::fromPublicKeyPem(p256Key().public_pem, JwtAlgorithm::Es256));
  EXPECT_FALSE(key.hasPrivateKey());
  EXPECT_FALSE(key.sign("x").ok());
}

TEST(JwtKey, PublicPemMatchesThePrivateKey) {
  auto key = mustKey(JwtKey::fromPrivateKeyPem(rsaKey().private_pem, JwtAlgorithm::Rs256));
  EXPECT_EQ(key.publicKeyPem().value(), rsaKey().public_pem);
}

// ---- RS256 -------------------------------------------------------------------------------------

TEST(Rs256, SignatureVerifiesWithThePublicKeyOnly) {
  auto signer = mustKey(JwtKey::fromPrivateKeyPem(rsaKey().private_pem, JwtAlgorithm::Rs256));
  auto verifier = mustKey(JwtKey::fromPublicKeyPem(rsaKey().public_pem, JwtAlgorithm::Rs256));
  auto stranger = mustKey(JwtKey::fromPublicKeyPem(otherRsaKey().public_pem, JwtAlgorithm::Rs256));
  auto signature = signer.sign("header.claims");
  ASSERT_TRUE(signature.ok());
  EXPECT_EQ(signature->size(), 256u);  // PKCS#1 v1.5 signature is the modulus size
  EXPECT_TRUE(verifier.verify("header.claims", signature.value()));
  EXPECT_FALSE(verifier.verify("header.claimz", signature.value()));
  EXPECT_FALSE(stranger.verify("header.claims", signature.value()));
  // PKCS#1 v1.5 is deterministic: the same input signs the same.
  EXPECT_EQ(signer.sign("header.claims").value(), signature.value());
}

// ---- ES256 -------------------------------------------------------------------------------------

TEST(Es256, SignaturesAreRaw64BytesAndVerifyAfterConversionToDer) {
  auto signer = mustKey(JwtKey::fromPrivateKeyPem(p256Key().private_pem, JwtAlgorithm::Es256));
  auto verifier = mustKey(JwtKey::fromPublicKeyPem(p256Key().public_pem, JwtAlgorithm::Es256));
  auto stranger = mustKey(JwtKey::fromPublicKeyPem(otherP256Key().public_pem, JwtAlgorithm::Es256));
  // Enough signatures that some R or S is shorter than 32 bytes and needs its padding.
  for (int i = 0; i < 64; ++i) {
    std::string input = "header.claims-" + std::to_string(i);
    auto signature = signer.sign(input);
    ASSERT_TRUE(signature.ok());
    ASSERT_EQ(signature->size(), 64u);
    auto der = ecdsaRawToDer(signature.value());
    ASSERT_TRUE(der.ok());
    EXPECT_TRUE(opensslVerifiesDer(p256Key().public_pem, input, der.value()));
    EXPECT_TRUE(verifier.verify(input, signature.value()));
    EXPECT_FALSE(verifier.verify(input + "x", signature.value()));
    EXPECT_FALSE(stranger.verify(input, signature.value()));
    // The DER form is what APNs refuses; so does our verifier.
    EXPECT_FALSE(verifier.verify(input, der.value()));
  }
}

TEST(Es256, ShortComponentsAreLeftPaddedTo32Bytes) {
  // SEQUENCE { INTEGER 1, INTEGER 0x00ff } — DER drops leading zeros and adds one before 0xff.
  const std::string der("\x30\x07\x02\x01\x01\x02\x02\x00\xff", 9);
  auto raw = ecdsaDerToRaw(der, 32);
  ASSERT_TRUE(raw.ok());
  std::string expected(64, '\0');
  expected[31] = '\x01';
  expected[63] = '\xff';
  EXPECT_EQ(raw.value(), expected);
  EXPECT_EQ(ecdsaRawToDer(raw.value()).value(), der);
}

TEST(Es256, RefusesMalformedSignatures) {
  EXPECT_FALSE(ecdsaDerToRaw("not der", 32).ok());
  // Trailing bytes after the DER sequence.
  EXPECT_FALSE(ecdsaDerToRaw(std::string("\x30\x06\x02\x01\x01\x02\x01\x02\x00", 9), 32).ok());
  // A component wider than the curve.
  std::string wide("\x30\x26\x02\x21\x01", 5);
  wide += std::string(32, '\x01');
  wide += std::string("\x02\x01\x01", 3);
  EXPECT_FALSE(ecdsaDerToRaw(wide, 32).ok());
  EXPECT_FALSE(ecdsaRawToDer("").ok());
  EXPECT_FALSE(ecdsaRawToDer("odd").ok());
}

// ---- compact JWS -------------------------------------------------------------------------------

TEST(Jwt, SignAndVerifyRoundTripKeepsHeaderAndClaims) {
  auto signer = mustKey(JwtKey::fromPrivateKeyPem(p256Key().private_pem, JwtAlgorithm::Es256));
  auto verifier = mustKey(JwtKey::fromPublicKeyPem(p256Key().public_pem, JwtAlgorithm::Es256));
  boost::json::object claims{{"iss", "TEAM123456"}, {"iat", 1700000000}};
  auto token = signJwt(signer, {{"kid", "KEY1234567"}}, claims);
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(std::count(token->begin(), token->end(), '.'), 2);
  EXPECT_EQ(token->find('='), std::string::npos);
  auto decoded = verifyJwt(verifier, token.value());
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(boost::json::serialize(decoded->header), R"({"alg":"ES256","kid":"KEY1234567"})");
  EXPECT_EQ(decoded->claims, claims);
  EXPECT_EQ(decoded->signature.size(), 64u);
}

TEST(Jwt, Rs256HeaderCarriesTyp) {
  auto signer = mustKey(JwtKey::fromPrivateKeyPem(rsaKey().private_pem, JwtAlgorithm::Rs256));
  auto token = signJwt(signer, {}, {{"iss", "a"}});
  ASSERT_TRUE(token.ok());
  auto decoded = decodeJwt(token.value());
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(boost::json::serialize(decoded->header), R"({"alg":"RS256","typ":"JWT"})");
}

TEST(Jwt, VerificationFailsForTamperingWrongKeysAndWrongAlgorithm) {
  auto es_signer = mustKey(JwtKey::fromPrivateKeyPem(p256Key().private_pem, JwtAlgorithm::Es256));
  auto es_verifier = mustKey(JwtKey::fromPublicKeyPem(p256Key().public_pem, JwtAlgorithm::Es256));
  auto es_stranger =
      mustKey(JwtKey::fromPublicKeyPem(otherP256Key().public_pem, JwtAlgorithm::Es256));
  auto rs_verifier = mustKey(JwtKey::fromPublicKeyPem(rsaKey().public_pem, JwtAlgorithm::Rs256));
  std::string token = signJwt(es_signer, {}, {{"iss", "TEAM123456"}}).value();

  EXPECT_EQ(verifyJwt(es_stranger, token).error().code, "bad_signature");
  EXPECT_EQ(verifyJwt(rs_verifier, token).error().code, "bad_jwt");
  std::string forged_claims = token;
  auto first_dot = forged_claims.find('.');
  forged_claims.replace(first_dot + 1, forged_claims.find('.', first_dot + 1) - first_dot - 1,
                        base64UrlEncode(R"({"iss":"EVIL000000"})"));
  EXPECT_EQ(verifyJwt(es_verifier, forged_claims).error().code, "bad_signature");
  EXPECT_TRUE(verifyJwt(es_verifier, token).ok());
}

TEST(Jwt, DecodeRefusesMalformedTokens) {
  const std::string header = base64UrlEncode(R"({"alg":"ES256"})");
  const std::string claims = base64UrlEncode(R"({"iss":"x"})");
  for (const std::string& token :
       {std::string(""), header + "." + claims, header + "." + claims + ".AA.AA",
        std::string("!!.") + claims + ".AA", header + "." + base64UrlEncode("[1]") + ".AA",
        header + "." + claims + ".A+A"}) {
    EXPECT_FALSE(decodeJwt(token).ok()) << token;
  }
  EXPECT_TRUE(decodeJwt(header + "." + claims + ".AA").ok());
}

}  // namespace
}  // namespace omnigate::channels::push
