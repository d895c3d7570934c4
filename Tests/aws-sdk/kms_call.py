"""One KMS call through boto3: kms_call.py OPERATION '{"Param": ...}'.

Prints {"ok": true, "response": ...} or {"ok": false, "error": CODE, "message": ...}
as one JSON line; bytes in the response are base64. Exit 0 either way (the
caller checks the outcome); non-zero only if boto3 itself cannot run.
"""
import base64
import json
import os
import sys

import boto3
import botocore.config
import botocore.exceptions


def jsonable(value):
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def main():
    operation, params = sys.argv[1], json.loads(sys.argv[2] if len(sys.argv) > 2 else "{}")
    for name in ("Plaintext", "CiphertextBlob", "Message", "Signature", "Mac"):
        if name in params:
            params[name] = base64.b64decode(params[name])
    verify = os.environ.get("P11KMS_TEST_CA_BUNDLE")
    client = boto3.client("kms", verify=verify if verify else None,
                          config=botocore.config.Config(retries={"mode": "standard", "max_attempts": 1}))
    try:
        response = getattr(client, operation)(**params)
        print(json.dumps({"ok": True, "response": jsonable(response)}))
    except botocore.exceptions.ClientError as e:
        print(json.dumps({"ok": False, "error": e.response["Error"]["Code"], "message": e.response["Error"]["Message"]}))


if __name__ == "__main__":
    main()
