"""DeriveSharedSecret and GetKeyLastUsage through boto3 over SigV4: on each
NIST curve the daemon's secret equals the one `cryptography` derives with a
local key and the KMS key's public key; GetKeyLastUsage then names
DeriveSharedSecret and the request id boto3 saw. Prints {"ok": true, "checks": [...]}."""
import json

import boto3
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

kms = boto3.client("kms")
checks = []
for spec, curve, length in [("ECC_NIST_P256", ec.SECP256R1(), 32), ("ECC_NIST_P384", ec.SECP384R1(), 48),
                            ("ECC_NIST_P521", ec.SECP521R1(), 66)]:
    key = kms.create_key(KeySpec=spec, KeyUsage="KEY_AGREEMENT")["KeyMetadata"]
    assert key["KeyAgreementAlgorithms"] == ["ECDH"], key
    kms_public = serialization.load_der_public_key(kms.get_public_key(KeyId=key["KeyId"])["PublicKey"])
    local = ec.generate_private_key(curve)
    peer = local.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    response = kms.derive_shared_secret(KeyId=key["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=peer)
    expected = local.exchange(ec.ECDH(), kms_public)
    assert len(expected) == length and response["SharedSecret"] == expected, spec
    assert response["KeyOrigin"] == "AWS_KMS" and response["KeyAgreementAlgorithm"] == "ECDH", response
    last = kms.get_key_last_usage(KeyId=key["KeyId"])
    usage = last["KeyLastUsage"]
    assert usage["Operation"] == "DeriveSharedSecret", last
    assert usage["KmsRequestId"] == response["ResponseMetadata"]["RequestId"], (usage, response["ResponseMetadata"])
    assert last["KeyCreationDate"] == key["CreationDate"], last
    checks.append(spec)

# A point off the curve is a ValidationException, not a secret.
key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["KeyId"]
bad = bytearray(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
bad[-1] ^= 1
try:
    kms.derive_shared_secret(KeyId=key, KeyAgreementAlgorithm="ECDH", PublicKey=bytes(bad))
    raise AssertionError("an off-curve point was accepted")
except kms.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "ValidationException", e.response
    checks.append("off-curve refused")
# A key never used has no KeyLastUsage.
assert "KeyLastUsage" not in kms.get_key_last_usage(KeyId=key) or not kms.get_key_last_usage(KeyId=key)["KeyLastUsage"]
checks.append("unused key")
print(json.dumps({"ok": True, "checks": checks}))
