"""Custom key stores through boto3 over SigV4 (issue #17): a dev daemon's
extra token (--extra-token, name in P11KMS_CKS_CLUSTER, user PIN in
P11KMS_CKS_PIN) becomes an AWS_CLOUDHSM key store; each of the six
operations, a key made in it, GenerateRandom from it, and the refusals a
disconnected store gives. Prints {"ok": true, "checks": [...]}."""
import json
import os

import boto3

kms = boto3.client("kms")
cluster, pin = os.environ["P11KMS_CKS_CLUSTER"], os.environ["P11KMS_CKS_PIN"]
checks = []


def refused(code, call, **params):
    try:
        call(**params)
    except kms.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == code, (code, e.response["Error"])
        return
    raise AssertionError(f"{call.__name__}: not refused with {code}")


store = kms.create_custom_key_store(CustomKeyStoreName="boto3 store", CloudHsmClusterId=cluster,
                                    KeyStorePassword=pin, TrustAnchorCertificate="informational")["CustomKeyStoreId"]
refused("CustomKeyStoreNameInUseException", kms.create_custom_key_store, CustomKeyStoreName="boto3 store",
        CloudHsmClusterId=cluster, KeyStorePassword=pin)
listed = kms.describe_custom_key_stores(CustomKeyStoreId=store)["CustomKeyStores"][0]
assert listed["ConnectionState"] == "DISCONNECTED" and listed["CloudHsmClusterId"] == cluster, listed
assert listed["CustomKeyStoreType"] == "AWS_CLOUDHSM" and "CreationDate" in listed, listed
checks.append("create_custom_key_store")

refused("CustomKeyStoreInvalidStateException", kms.create_key, CustomKeyStoreId=store, Origin="AWS_CLOUDHSM")
kms.connect_custom_key_store(CustomKeyStoreId=store)
assert kms.describe_custom_key_stores(CustomKeyStoreName="boto3 store")["CustomKeyStores"][0]["ConnectionState"] == "CONNECTED"
checks.append("connect_custom_key_store")

key = kms.create_key(CustomKeyStoreId=store, Origin="AWS_CLOUDHSM")["KeyMetadata"]
assert key["CustomKeyStoreId"] == store and key["CloudHsmClusterId"] == cluster and key["Origin"] == "AWS_CLOUDHSM", key
blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"on the second token")["CiphertextBlob"]
assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"on the second token"
assert len(kms.generate_random(NumberOfBytes=24, CustomKeyStoreId=store)["Plaintext"]) == 24
checks.append("create_key in the store")

kms.update_custom_key_store(CustomKeyStoreId=store, NewCustomKeyStoreName="renamed")
refused("CustomKeyStoreInvalidStateException", kms.update_custom_key_store, CustomKeyStoreId=store,
        KeyStorePassword="another-pin")
checks.append("update_custom_key_store")

kms.disconnect_custom_key_store(CustomKeyStoreId=store)
refused("KMSInvalidStateException", kms.decrypt, CiphertextBlob=blob)
refused("CustomKeyStoreInvalidStateException", kms.generate_random, NumberOfBytes=8, CustomKeyStoreId=store)
refused("CustomKeyStoreHasCMKsException", kms.delete_custom_key_store, CustomKeyStoreId=store)
checks.append("disconnect_custom_key_store")

refused("CustomKeyStoreNotFoundException", kms.describe_custom_key_stores, CustomKeyStoreId="cks-00000000000000000")
refused("CloudHsmClusterNotFoundException", kms.create_custom_key_store, CustomKeyStoreName="nowhere",
        CloudHsmClusterId="cluster-notconfiguredaa", KeyStorePassword=pin)
checks.append("describe_custom_key_stores")

# A second, empty store cannot exist on the same token; an empty one is deleted once disconnected.
refused("CloudHsmClusterInUseException", kms.create_custom_key_store, CustomKeyStoreName="twice",
        CloudHsmClusterId=cluster, KeyStorePassword=pin)
kms.connect_custom_key_store(CustomKeyStoreId=store)
assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"on the second token"
refused("CustomKeyStoreInvalidStateException", kms.delete_custom_key_store, CustomKeyStoreId=store)
checks.append("delete_custom_key_store refusals")

print(json.dumps({"ok": True, "checks": checks}))
