// The PKCS#11 header comes from the installed p11-kit (libp11-kit-dev); no
// vendored copy. p11-kit's compatibility mode gives the standard CK_* names.
#ifndef P11KMS_CPKCS11_SHIM_H
#define P11KMS_CPKCS11_SHIM_H
#include <p11-kit/pkcs11.h>
#include <dlfcn.h>
#endif
