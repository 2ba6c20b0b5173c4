#!/usr/bin/env bash
# Makes a throwaway PKI for the fake providers at test time, so no private key is ever committed.
#
# Usage: make_testca.sh OUTDIR [--push-keys]
#
# Writes into OUTDIR (created if missing):
#   ca.pem, ca.key            a self-signed test CA (trust ca.pem in the client: --cacert / CAINFO)
#   server.pem, server.key    a server certificate signed by that CA for 127.0.0.1, ::1, localhost
# With --push-keys also:
#   fcm_service_account.key/.pub   RSA 2048 (PKCS#8) for the FCM service-account JWT (RS256)
#   fcm_service_account.json       a service-account key file around it (token_uri left for the
#                                  test to point at the fake)
#   apns_key.p8/.pub               P-256 (PKCS#8) for APNs provider tokens (ES256)
# Everything is valid for two days; the CA key exists only to sign the server certificate.
set -euo pipefail

out="${1:?usage: make_testca.sh OUTDIR [--push-keys]}"
push_keys="${2:-}"
mkdir -p "$out"
cd "$out"
umask 077

openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=omnigate test CA" -keyout ca.key -out ca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  2>/dev/null

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
cat > server.ext <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost
EXT
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
  -extfile server.ext -out server.pem 2>/dev/null
rm -f server.csr server.ext ca.srl

if [[ "$push_keys" == "--push-keys" ]]; then
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out fcm_service_account.key \
    2>/dev/null
  openssl pkey -in fcm_service_account.key -pubout -out fcm_service_account.pub
  /usr/bin/python3 - <<'PY'
import json
with open("fcm_service_account.key") as f:
    key = f.read()
account = {
    "type": "service_account",
    "project_id": "omnigate-test",
    "private_key_id": "0123456789abcdef0123456789abcdef01234567",
    "private_key": key,
    "client_email": "omnigate@omnigate-test.iam.gserviceaccount.com",
    "client_id": "100000000000000000000",
    "token_uri": "https://127.0.0.1/token",
}
with open("fcm_service_account.json", "w") as f:
    json.dump(account, f, indent=2)
PY
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out apns_key.p8 2>/dev/null
  openssl pkey -in apns_key.p8 -pubout -out apns_key.pub
fi
chmod 644 ./*.pem ./*.pub 2>/dev/null || true
