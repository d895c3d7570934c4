// OpenSSL's libcrypto, for the few things swift-crypto lacks: verifying
// secp256k1 signatures, OAEP padding removal in constant time after a raw
// RSA decrypt in the HSM, and data key pairs on every curve AWS offers.
// RSA_padding_check_PKCS1_OAEP_mgf1 is deprecated in OpenSSL 3 but has no
// replacement that works on a block decrypted elsewhere.
#ifndef P11KMS_COPENSSL_SHIM_H
#define P11KMS_COPENSSL_SHIM_H
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/err.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/crypto.h>
#endif
