// libcrypto (OpenSSL 3, Debian libssl-dev): the hash functions and secp256k1 arithmetic we use.
// The low-level SHA256_* / RIPEMD160_* calls are deprecated in OpenSSL 3 in favour of EVP, but the
// EVP path costs a context allocation (and, for one-shot calls, an algorithm fetch) per hash; for
// millions of ~300-byte transactions the direct calls are several times faster, so we keep them.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>
#include <openssl/ripemd.h>
#include <openssl/evp.h>
#include <openssl/ec.h>
#include <openssl/bn.h>
#include <openssl/obj_mac.h>
