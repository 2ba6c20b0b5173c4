#pragma once

// Keys made fresh by each test binary, so no private key ever sits in the tree.

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>
#include <stdexcept>
#include <string>

namespace omnigate::channels::push::testing {

struct KeyPairPem {
  std::string private_pem;  // PKCS#8, as Google's key files and Apple's .p8 files carry them
  std::string public_pem;
};

inline KeyPairPem generateKeyPair(const char* type, const char* parameter) {
  EVP_PKEY* key = nullptr;
  if (std::string(type) == "RSA") {
    key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(std::stoi(parameter)));
  } else {
    key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", parameter);
  }
  if (key == nullptr) throw std::runtime_error("key generation failed");
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> owned(key, &EVP_PKEY_free);
  auto toText = [](BIO* bio) {
    char* data = nullptr;
    long length = BIO_get_mem_data(bio, &data);
    std::string text(data, static_cast<std::size_t>(length));
    BIO_free(bio);
    return text;
  };
  BIO* private_bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(private_bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  BIO* public_bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(public_bio, key);
  return {toText(private_bio), toText(public_bio)};
}

// RSA generation takes tens of milliseconds; each binary makes each kind of key once.
inline const KeyPairPem& rsaKey() {
  static const KeyPairPem key = generateKeyPair("RSA", "2048");
  return key;
}
inline const KeyPairPem& otherRsaKey() {
  static const KeyPairPem key = generateKeyPair("RSA", "2048");
  return key;
}
inline const KeyPairPem& p256Key() {
  static const KeyPairPem key = generateKeyPair("EC", "P-256");
  return key;
}
inline const KeyPairPem& otherP256Key() {
  static const KeyPairPem key = generateKeyPair("EC", "P-256");
  return key;
}

}  // namespace omnigate::channels::push::testing
