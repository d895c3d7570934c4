"""The operations of AWS's model this service does not perform, through
boto3 over SigV4: each is boto3's UnsupportedOperationException with a
message saying why, and an external key store is referred to the XKS proxy. Prints {"ok": true, "checks": [...]} at the end."""
import json

import boto3

kms = boto3.client("kms")
checks = []
key = kms.create_key()["KeyMetadata"]["KeyId"]

calls = {
    "replicate_key": dict(KeyId=key, ReplicaRegion="eu-west-1"),
    "update_primary_region": dict(KeyId=key, PrimaryRegion="eu-west-1"),
    "create_custom_key_store": dict(CustomKeyStoreName="xks", CustomKeyStoreType="EXTERNAL_KEY_STORE"),
}
for name, params in calls.items():
    try:
        getattr(kms, name)(**params)
    except kms.exceptions.UnsupportedOperationException as e:
        message = e.response["Error"]["Message"]
        if len(message) < 40:
            raise AssertionError(f"{name}: no reason given: {message}")
        if name == "create_custom_key_store" and "XKS proxy" not in message:
            raise AssertionError(f"{name}: {message}")
        checks.append(name)
        continue
    raise AssertionError(f"{name}: not refused")

print(json.dumps({"ok": True, "checks": checks}))
