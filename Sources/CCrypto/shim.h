#ifndef CCRYPTO_SHIM_H
#define CCRYPTO_SHIM_H

// OpenSSL's libcrypto, for its message digests only (EVP): libcurl already loads it.
#include <openssl/evp.h>

#endif
