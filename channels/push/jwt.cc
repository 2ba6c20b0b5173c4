#include "channels/push/jwt.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <array>
#include <boost/json.hpp>
#include <cstring>

namespace omnigate::channels::push {
namespace {

constexpr std::size_t kEs256ComponentSize = 32;

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* sig) const { ECDSA_SIG_free(sig); }
};
struct BnFree {
  void operator()(BIGNUM* bn) const { BN_free(bn); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, EcdsaSigFree>;
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;

// OpenSSL queues errors per thread; leaving them behind would confuse the next unrelated caller.
std::string takeOpensslError() {
  unsigned long code = ERR_get_error();
  std::string text;
  if (code != 0) {
    std::array<char, 256> buffer{};
    ERR_error_string_n(code, buffer.data(), buffer.size());
    text = buffer.data();
  }
  ERR_clear_error();
  return text.empty() ? "unknown OpenSSL error" : text;
}

Status checkKeyType(EVP_PKEY* key, JwtAlgorithm algorithm) {
  if (algorithm == JwtAlgorithm::Rs256) {
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
      return makeError("bad_key", "RS256 needs an RSA key");
    }
    if (EVP_PKEY_get_bits(key) < 2048) {
      return makeError("bad_key", "RS256 keys must have at least 2048 bits");
    }
    return Ok{};
  }
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) {
    return makeError("bad_key", "ES256 needs an EC P-256 key");
  }
  std::array<char, 64> curve{};
  std::size_t length = 0;
  if (EVP_PKEY_get_utf8_string_param(key, "group", curve.data(), curve.size(), &length) != 1 ||
      (std::strcmp(curve.data(), "prime256v1") != 0 && std::strcmp(curve.data(), "P-256") != 0)) {
    ERR_clear_error();
    return makeError("bad_key", "ES256 needs a key on curve P-256");
  }
  return Ok{};
}

std::shared_ptr<EVP_PKEY> ownKey(EVP_PKEY* key) {
  return std::shared_ptr<EVP_PKEY>(key, [](EVP_PKEY* k) { EVP_PKEY_free(k); });
}

Status segmentToJsonObject(std::string_view segment, boost::json::object& out, const char* what) {
  auto decoded = base64UrlDecode(segment);
  if (!decoded) return makeError("bad_jwt", std::string(what) + " is not base64url");
  boost::system::error_code ec;
  auto value = boost::json::parse(decoded.value(), ec);
  if (ec || !value.is_object()) {
    return makeError("bad_jwt", std::string(what) + " is not a JSON object");
  }
  out = std::move(value.as_object());
  return Ok{};
}

}  // namespace

const char* toString(JwtAlgorithm algorithm) {
  return algorithm == JwtAlgorithm::Rs256 ? "RS256" : "ES256";
}

std::string base64UrlEncode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    std::uint32_t n = (static_cast<unsigned char>(bytes[i]) << 16) |
                      (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                      static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    std::uint32_t n = static_cast<unsigned char>(bytes[i]) << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
  } else if (rest == 2) {
    std::uint32_t n = (static_cast<unsigned char>(bytes[i]) << 16) |
                      (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
  }
  return out;
}

Result<std::string> base64UrlDecode(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return makeError("bad_base64url", "truncated base64url text");
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t accumulator = 0;
  int bits = 0;
  for (char c : text) {
    int value;
    if (c >= 'A' && c <= 'Z') {
      value = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      value = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      value = c - '0' + 52;
    } else if (c == '-') {
      value = 62;
    } else if (c == '_') {
      value = 63;
    } else {
      return makeError("bad_base64url", "character outside the base64url alphabet");
    }
    accumulator = (accumulator << 6) | static_cast<std::uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((accumulator >> bits) & 0xff);
    }
  }
  return out;
}

Result<JwtKey> JwtKey::fromPrivateKeyPem(std::string_view pem, JwtAlgorithm algorithm) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return makeError("bad_key", takeOpensslError());
  EVP_PKEY* raw = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (raw == nullptr) {
    return makeError("bad_key", "not a PEM private key: " + takeOpensslError());
  }
  auto key = ownKey(raw);
  if (auto type = checkKeyType(key.get(), algorithm); !type) return type.error();
  return JwtKey(std::move(key), algorithm, true);
}

Result<JwtKey> JwtKey::fromPublicKeyPem(std::string_view pem, JwtAlgorithm algorithm) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return makeError("bad_key", takeOpensslError());
  EVP_PKEY* raw = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (raw == nullptr) {
    return makeError("bad_key", "not a PEM public key: " + takeOpensslError());
  }
  auto key = ownKey(raw);
  if (auto type = checkKeyType(key.get(), algorithm); !type) return type.error();
  return JwtKey(std::move(key), algorithm, false);
}

Result<std::string> JwtKey::sign(std::string_view signing_input) const {
  if (!has_private_) return makeError("bad_key", "a public key cannot sign");
  MdCtxPtr ctx(EVP_MD_CTX_new());
  std::size_t length = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &length,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    return makeError("sign_failed", takeOpensslError());
  }
  std::string signature(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    return makeError("sign_failed", takeOpensslError());
  }
  signature.resize(length);
  if (algorithm_ == JwtAlgorithm::Rs256) return signature;
  return ecdsaDerToRaw(signature, kEs256ComponentSize);
}

bool JwtKey::verify(std::string_view signing_input, std::string_view signature) const {
  std::string wire(signature);
  if (algorithm_ == JwtAlgorithm::Es256) {
    // Exactly 64 bytes: a DER signature that happens to verify must still be refused, as APNs does.
    if (signature.size() != 2 * kEs256ComponentSize) return false;
    auto der = ecdsaRawToDer(signature);
    if (!der) return false;
    wire = std::move(der.value());
  }
  MdCtxPtr ctx(EVP_MD_CTX_new());
  bool ok =
      ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) == 1 &&
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(wire.data()), wire.size(),
                       reinterpret_cast<const unsigned char*>(signing_input.data()),
                       signing_input.size()) == 1;
  ERR_clear_error();
  return ok;
}

Result<std::string> JwtKey::publicKeyPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key_.get()) != 1) {
    return makeError("bad_key", takeOpensslError());
  }
  char* data = nullptr;
  long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

Result<std::string> ecdsaDerToRaw(std::string_view der, std::size_t component_size) {
  const auto* cursor = reinterpret_cast<const unsigned char*>(der.data());
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &cursor, static_cast<long>(der.size())));
  if (!sig || cursor != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    ERR_clear_error();
    return makeError("bad_signature", "not a DER ECDSA signature");
  }
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string raw(2 * component_size, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  // BN_bn2binpad left-pads with zeros: R or S often has leading zero bytes that DER dropped.
  if (BN_bn2binpad(r, out, static_cast<int>(component_size)) < 0 ||
      BN_bn2binpad(s, out + component_size, static_cast<int>(component_size)) < 0) {
    ERR_clear_error();
    return makeError("bad_signature", "ECDSA component wider than the curve");
  }
  return raw;
}

Result<std::string> ecdsaRawToDer(std::string_view raw) {
  if (raw.empty() || raw.size() % 2 != 0) {
    return makeError("bad_signature", "raw ECDSA signature must be R and S of equal width");
  }
  const std::size_t half = raw.size() / 2;
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  BnPtr r(BN_bin2bn(bytes, static_cast<int>(half), nullptr));
  BnPtr s(BN_bin2bn(bytes + half, static_cast<int>(half), nullptr));
  EcdsaSigPtr sig(ECDSA_SIG_new());
  if (!r || !s || !sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
    return makeError("bad_signature", takeOpensslError());
  }
  // ECDSA_SIG_set0 took ownership of both numbers.
  static_cast<void>(r.release());
  static_cast<void>(s.release());
  int length = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (length <= 0) return makeError("bad_signature", takeOpensslError());
  std::string der(static_cast<std::size_t>(length), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &out) != length) {
    return makeError("bad_signature", takeOpensslError());
  }
  return der;
}

Result<std::string> signJwt(const JwtKey& key, boost::json::object header,
                            const boost::json::object& claims) {
  // alg first, as every JWT example is written; readers of captured tokens expect it there.
  boost::json::object ordered{{"alg", toString(key.algorithm())}};
  if (key.algorithm() == JwtAlgorithm::Rs256) ordered["typ"] = "JWT";
  for (auto& [name, value] : header) {
    if (name != "alg") ordered[name] = std::move(value);
  }
  std::string signing_input = base64UrlEncode(boost::json::serialize(ordered)) + "." +
                              base64UrlEncode(boost::json::serialize(claims));
  auto signature = key.sign(signing_input);
  if (!signature) return signature.error();
  return signing_input + "." + base64UrlEncode(signature.value());
}

Result<DecodedJwt> decodeJwt(std::string_view token) {
  auto first_dot = token.find('.');
  auto second_dot =
      first_dot == std::string_view::npos ? first_dot : token.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos ||
      token.find('.', second_dot + 1) != std::string_view::npos) {
    return makeError("bad_jwt", "a compact JWS has exactly three segments");
  }
  DecodedJwt jwt;
  if (auto header = segmentToJsonObject(token.substr(0, first_dot), jwt.header, "header");
      !header) {
    return header.error();
  }
  if (auto claims = segmentToJsonObject(token.substr(first_dot + 1, second_dot - first_dot - 1),
                                        jwt.claims, "claims");
      !claims) {
    return claims.error();
  }
  auto signature = base64UrlDecode(token.substr(second_dot + 1));
  if (!signature) return makeError("bad_jwt", "signature is not base64url");
  jwt.signing_input = std::string(token.substr(0, second_dot));
  jwt.signature = std::move(signature.value());
  return jwt;
}

Result<DecodedJwt> verifyJwt(const JwtKey& key, std::string_view token) {
  auto jwt = decodeJwt(token);
  if (!jwt) return jwt.error();
  const auto* alg = jwt->header.if_contains("alg");
  if (alg == nullptr || !alg->is_string() || alg->as_string() != toString(key.algorithm())) {
    return makeError("bad_jwt", std::string("header alg is not ") + toString(key.algorithm()));
  }
  if (!key.verify(jwt->signing_input, jwt->signature)) {
    return makeError("bad_signature", "JWT signature does not verify");
  }
  return jwt;
}

}  // namespace omnigate::channels::push
