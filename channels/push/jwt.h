#pragma once

// Compact JWS (RFC 7515) as the push providers need it: RS256 for Google's OAuth2 JWT-bearer
// grant and ES256 for APNs provider tokens. ES256 signatures are the raw 64-byte R‖S form of
// RFC 7518 §3.4, not OpenSSL's DER, because APNs refuses DER with InvalidProviderToken.

#include <boost/json/object.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "daemon/common/result.h"

typedef struct evp_pkey_st EVP_PKEY;  // NOLINT: OpenSSL's own spelling, avoids its headers here

namespace omnigate::channels::push {

// Base64url without padding (RFC 7515 §2).
std::string base64UrlEncode(std::string_view bytes);
// Accepts input with or without '=' padding; rejects characters outside the url-safe alphabet.
Result<std::string> base64UrlDecode(std::string_view text);

enum class JwtAlgorithm { Rs256, Es256 };

const char* toString(JwtAlgorithm algorithm);

// An RSA (RS256) or P-256 (ES256) key. Holding a private key it signs and verifies; holding only
// a public key it verifies. Copies share the immutable OpenSSL key, which OpenSSL allows to be
// used from several threads at once.
class JwtKey {
 public:
  static Result<JwtKey> fromPrivateKeyPem(std::string_view pem, JwtAlgorithm algorithm);
  static Result<JwtKey> fromPublicKeyPem(std::string_view pem, JwtAlgorithm algorithm);

  JwtAlgorithm algorithm() const { return algorithm_; }
  bool hasPrivateKey() const { return has_private_; }

  // The JWS signature bytes over `signing_input`: PKCS#1 v1.5 for RS256, raw R‖S for ES256.
  Result<std::string> sign(std::string_view signing_input) const;
  bool verify(std::string_view signing_input, std::string_view signature) const;

  // SubjectPublicKeyInfo PEM, for handing to whoever verifies.
  Result<std::string> publicKeyPem() const;

 private:
  JwtKey(std::shared_ptr<EVP_PKEY> key, JwtAlgorithm algorithm, bool has_private)
      : key_(std::move(key)), algorithm_(algorithm), has_private_(has_private) {}

  std::shared_ptr<EVP_PKEY> key_;
  JwtAlgorithm algorithm_;
  bool has_private_;
};

// ECDSA signature conversions between OpenSSL's DER ECDSA-Sig-Value and JWS's fixed-width R‖S.
Result<std::string> ecdsaDerToRaw(std::string_view der, std::size_t component_size);
Result<std::string> ecdsaRawToDer(std::string_view raw);

// header.claims.signature. The header gets `alg` from the key (and `typ` "JWT" for RS256, as
// Google's examples carry it) ahead of the fields given.
Result<std::string> signJwt(const JwtKey& key, boost::json::object header,
                            const boost::json::object& claims);

struct DecodedJwt {
  boost::json::object header;
  boost::json::object claims;
  std::string signing_input;  // the first two segments as sent
  std::string signature;      // decoded signature bytes
};

// Splits and decodes a compact JWS without checking the signature.
Result<DecodedJwt> decodeJwt(std::string_view token);
// Decodes and checks that `alg` matches the key and the signature verifies.
Result<DecodedJwt> verifyJwt(const JwtKey& key, std::string_view token);

}  // namespace omnigate::channels::push
