"""Existing boto3 code against p11kmsd's TCP listener, unchanged: every
operation family the issue lists, errors as boto3's modelled exception
classes, and ListKeys through boto3's paginator. Exits non-zero on the first
failed check; prints {"ok": true, "checks": [...]} at the end."""
import json
import os
import uuid

import boto3
from botocore.config import Config
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

kms = boto3.client("kms", config=Config(retries={"mode": "standard", "max_attempts": 3}))
region = os.environ["AWS_DEFAULT_REGION"]
checks = []


def check(name, condition):
    if not condition:
        raise AssertionError(f"check failed: {name}")
    checks.append(name)


def raises(name, exception, call, **params):
    try:
        call(**params)
    except exception as e:
        checks.append(name)
        return e
    raise AssertionError(f"check failed: {name}: no {exception.__name__}")


# Keys of each spec; the ARNs parse as SDKs expect.
sym = kms.create_key(Description="boto3 symmetric", Tags=[{"TagKey": "team", "TagValue": "payments"}])["KeyMetadata"]
ecc = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
mac_key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
arn = sym["Arn"].split(":")
check("arn", arn[:3] == ["arn", "aws", "kms"] and arn[3] == region and len(arn[4]) == 12
      and arn[5] == "key/" + sym["KeyId"] and sym["AWSAccountId"] == arn[4])
check("key specs", (ecc["KeySpec"], mac_key["KeySpec"], sym["KeySpec"]) == ("ECC_NIST_P256", "HMAC_256", "SYMMETRIC_DEFAULT"))

# Encrypt and decrypt with encryption context.
context = {"purpose": "boto3-test", "tenant": "42"}
encrypted = kms.encrypt(KeyId=sym["KeyId"], Plaintext=b"hello from boto3", EncryptionContext=context)
check("encrypt names the key by ARN", encrypted["KeyId"] == sym["Arn"])
decrypted = kms.decrypt(CiphertextBlob=encrypted["CiphertextBlob"], EncryptionContext=context)
check("decrypt", decrypted["Plaintext"] == b"hello from boto3" and decrypted["KeyId"] == sym["Arn"])
raises("wrong context is InvalidCiphertextException", kms.exceptions.InvalidCiphertextException, kms.decrypt,
       CiphertextBlob=encrypted["CiphertextBlob"], EncryptionContext={"purpose": "other"})

# Data keys.
data_key = kms.generate_data_key(KeyId=sym["KeyId"], KeySpec="AES_256", EncryptionContext=context)
check("data key", len(data_key["Plaintext"]) == 32
      and kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"], EncryptionContext=context)["Plaintext"] == data_key["Plaintext"])

# ReEncrypt to another key and context.
sym2 = kms.create_key(Description="boto3 second")["KeyMetadata"]
moved = kms.re_encrypt(CiphertextBlob=encrypted["CiphertextBlob"], SourceEncryptionContext=context,
                       DestinationKeyId=sym2["KeyId"], DestinationEncryptionContext={"moved": "yes"})
check("re-encrypt", moved["SourceKeyId"] == sym["Arn"] and moved["KeyId"] == sym2["Arn"]
      and kms.decrypt(CiphertextBlob=moved["CiphertextBlob"], EncryptionContext={"moved": "yes"})["Plaintext"]
      == b"hello from boto3")

# Sign and verify; the public key checks the signature outside p11kms too.
message = b"sign me, HSM"
signature = kms.sign(KeyId=ecc["KeyId"], Message=message, MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
check("verify", kms.verify(KeyId=ecc["KeyId"], Message=message, Signature=signature,
                           SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"])
raises("a wrong message is KMSInvalidSignatureException", kms.exceptions.KMSInvalidSignatureException, kms.verify,
       KeyId=ecc["KeyId"], Message=b"another message", Signature=signature, SigningAlgorithm="ECDSA_SHA_256")
public = kms.get_public_key(KeyId=ecc["KeyId"])
serialization.load_der_public_key(public["PublicKey"]).verify(signature, message, ec.ECDSA(hashes.SHA256()))
check("get_public_key verifies outside", public["KeySpec"] == "ECC_NIST_P256")

# MACs.
mac = kms.generate_mac(KeyId=mac_key["KeyId"], Message=message, MacAlgorithm="HMAC_SHA_256")["Mac"]
check("verify_mac", kms.verify_mac(KeyId=mac_key["KeyId"], Message=message, MacAlgorithm="HMAC_SHA_256", Mac=mac)["MacValid"])
raises("a wrong MAC is KMSInvalidMacException", kms.exceptions.KMSInvalidMacException, kms.verify_mac,
       KeyId=mac_key["KeyId"], Message=b"another", MacAlgorithm="HMAC_SHA_256", Mac=mac)

# Aliases.
alias = "alias/boto3-" + uuid.uuid4().hex[:8]
kms.create_alias(AliasName=alias, TargetKeyId=sym["KeyId"])
aliases = [a for page in kms.get_paginator("list_aliases").paginate() for a in page["Aliases"]]
check("list_aliases", any(a["AliasName"] == alias and a["TargetKeyId"] == sym["KeyId"] for a in aliases))
check("encrypt by alias", kms.encrypt(KeyId=alias, Plaintext=b"x")["KeyId"] == sym["Arn"])
kms.update_alias(AliasName=alias, TargetKeyId=sym2["KeyId"])
check("update_alias", kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == sym2["KeyId"])
kms.delete_alias(AliasName=alias)
raises("a deleted alias is NotFoundException", kms.exceptions.NotFoundException, kms.describe_key, KeyId=alias)

# Tags.
kms.tag_resource(KeyId=sym["KeyId"], Tags=[{"TagKey": "env", "TagValue": "test"}])
tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=sym["KeyId"])["Tags"]}
check("tags", tags == {"team": "payments", "env": "test"})
kms.untag_resource(KeyId=sym["KeyId"], TagKeys=["team"])
check("untag", [t["TagKey"] for t in kms.list_resource_tags(KeyId=sym["KeyId"])["Tags"]] == ["env"])

# Rotation: old ciphertexts still decrypt.
kms.enable_key_rotation(KeyId=sym["KeyId"], RotationPeriodInDays=90)
status = kms.get_key_rotation_status(KeyId=sym["KeyId"])
check("rotation enabled", status["KeyRotationEnabled"] and status["RotationPeriodInDays"] == 90)
kms.rotate_key_on_demand(KeyId=sym["KeyId"])
check("list_key_rotations", len(kms.list_key_rotations(KeyId=sym["KeyId"])["Rotations"]) == 1)
check("old ciphertext after rotation", kms.decrypt(CiphertextBlob=encrypted["CiphertextBlob"],
                                                   EncryptionContext=context)["Plaintext"] == b"hello from boto3")
kms.disable_key_rotation(KeyId=sym["KeyId"])
check("rotation disabled", not kms.get_key_rotation_status(KeyId=sym["KeyId"])["KeyRotationEnabled"])

# Deletion is scheduled, refuses use, and can be cancelled.
scheduled = kms.schedule_key_deletion(KeyId=sym2["KeyId"], PendingWindowInDays=7)
check("schedule_key_deletion", scheduled["KeyState"] == "PendingDeletion" and scheduled["PendingWindowInDays"] == 7)
raises("a key pending deletion is KMSInvalidStateException", kms.exceptions.KMSInvalidStateException, kms.encrypt,
       KeyId=sym2["KeyId"], Plaintext=b"x")
kms.cancel_key_deletion(KeyId=sym2["KeyId"])
check("cancel_key_deletion", kms.describe_key(KeyId=sym2["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled")
kms.enable_key(KeyId=sym2["KeyId"])

# Modelled errors.
raises("an unknown key id is NotFoundException", kms.exceptions.NotFoundException, kms.describe_key, KeyId=str(uuid.uuid4()))
bad_spec = raises("a bad key spec is refused", kms.exceptions.ClientError, kms.create_key, KeySpec="AES_999")
check("... with ValidationException", bad_spec.response["Error"]["Code"] == "ValidationException")
no_usage = raises("an HMAC key without KeyUsage is refused", kms.exceptions.ClientError, kms.create_key, KeySpec="HMAC_256")
check("... with ValidationException", no_usage.response["Error"]["Code"] == "ValidationException")
no_prefix = raises("an alias name without alias/ is refused", kms.exceptions.ClientError, kms.create_alias,
                   AliasName="boto3-no-prefix", TargetKeyId=sym["KeyId"])
check("... with ValidationException", no_prefix.response["Error"]["Code"] == "ValidationException")

# ListKeys through the paginator, two keys a page.
for _ in range(3):
    kms.create_key(Description="page filler")
pages = list(kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 2}))
listed = [k["KeyId"] for page in pages for k in page["Keys"]]
check("paginator", len(pages) >= 4 and len(listed) == len(set(listed)) and
      {sym["KeyId"], sym2["KeyId"], ecc["KeyId"], mac_key["KeyId"]} <= set(listed))

print(json.dumps({"ok": True, "checks": checks}))
