"""Grants through boto3 over SigV4: CreateGrant (with Name idempotency and
DryRun), the ListGrants and ListRetirableGrants paginators, GrantTokens on a
cryptographic call, RetireGrant by token and RevokeGrant, each error as
boto3's modelled exception class. The caller is the dev access key, named in
grants as access_key:dev. Prints {"ok": true, "checks": [...]} at the end."""
import json

import boto3
from botocore.config import Config

kms = boto3.client("kms", config=Config(retries={"mode": "standard", "max_attempts": 3}))
checks = []
me = "access_key:dev"


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


key = kms.create_key(Description="boto3 grants")["KeyMetadata"]["KeyId"]
raises("CreateGrant DryRun", kms.exceptions.DryRunOperationException, kms.create_grant,
       KeyId=key, GranteePrincipal=me, Operations=["Encrypt"], DryRun=True)
check("nothing was created", kms.list_grants(KeyId=key)["Grants"] == [])

first = kms.create_grant(KeyId=key, GranteePrincipal=me, RetiringPrincipal=me, Operations=["Encrypt", "Decrypt"],
                         Constraints={"EncryptionContextSubset": {"tenant": "acme"}}, Name="boto3")
again = kms.create_grant(KeyId=key, GranteePrincipal=me, RetiringPrincipal=me, Operations=["Decrypt", "Encrypt"],
                         Constraints={"EncryptionContextSubset": {"tenant": "acme"}}, Name="boto3")
check("create_grant", len(first["GrantId"]) == 64 and first["GrantToken"])
check("Name makes it idempotent", again["GrantId"] == first["GrantId"] and again["GrantToken"] != first["GrantToken"])

blob = kms.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext={"tenant": "acme"},
                   GrantTokens=[first["GrantToken"]])["CiphertextBlob"]
check("GrantTokens accepted", len(blob) > 0)
raises("a foreign grant token is InvalidGrantTokenException", kms.exceptions.InvalidGrantTokenException, kms.encrypt,
       KeyId=key, Plaintext=b"x", GrantTokens=["not-ours"])
raises("Encrypt DryRun", kms.exceptions.DryRunOperationException, kms.encrypt, KeyId=key, Plaintext=b"x", DryRun=True)

for i in range(4):
    kms.create_grant(KeyId=key, GranteePrincipal=me, RetiringPrincipal=me, Operations=["DescribeKey"])
pages = list(kms.get_paginator("list_grants").paginate(KeyId=key, PaginationConfig={"PageSize": 2}))
listed = [g for page in pages for g in page["Grants"]]
check("list_grants paginator", len(pages) == 3 and len({g["GrantId"] for g in listed}) == 5)
entry = next(g for g in listed if g["GrantId"] == first["GrantId"])
check("a grant entry", entry["Name"] == "boto3" and entry["GranteePrincipal"] == me and entry["KeyId"].endswith(key)
      and sorted(entry["Operations"]) == ["Decrypt", "Encrypt"]
      and entry["Constraints"] == {"EncryptionContextSubset": {"tenant": "acme"}}
      and entry["IssuingAccount"].startswith("arn:aws:iam::") and "CreationDate" in entry)
retirable = list(kms.get_paginator("list_retirable_grants").paginate(RetiringPrincipal=me,
                                                                     PaginationConfig={"PageSize": 3}))
check("list_retirable_grants paginator", sum(len(p["Grants"]) for p in retirable) == 5 and len(retirable) == 2)

raises("RetireGrant DryRun", kms.exceptions.DryRunOperationException, kms.retire_grant,
       GrantToken=first["GrantToken"], DryRun=True)
kms.retire_grant(GrantToken=first["GrantToken"])
check("retire_grant by token", all(g["GrantId"] != first["GrantId"] for g in kms.list_grants(KeyId=key)["Grants"]))
raises("retiring it twice is NotFoundException", kms.exceptions.NotFoundException, kms.retire_grant,
       KeyId=key, GrantId=first["GrantId"])

other = kms.list_grants(KeyId=key, Limit=1)["Grants"][0]["GrantId"]
raises("RevokeGrant DryRun", kms.exceptions.DryRunOperationException, kms.revoke_grant,
       KeyId=key, GrantId=other, DryRun=True)
kms.revoke_grant(KeyId=key, GrantId=other)
check("revoke_grant", len(kms.list_grants(KeyId=key)["Grants"]) == 3)
raises("a malformed grant id is InvalidGrantIdException", kms.exceptions.InvalidGrantIdException, kms.revoke_grant,
       KeyId=key, GrantId="nope")
bad = raises("a principal of another form is refused", kms.exceptions.ClientError, kms.create_grant,
             KeyId=key, GranteePrincipal="arn:aws:iam::111122223333:user/alice", Operations=["Encrypt"])
check("... with ValidationException", bad.response["Error"]["Code"] == "ValidationException")

print(json.dumps({"ok": True, "checks": checks}))
