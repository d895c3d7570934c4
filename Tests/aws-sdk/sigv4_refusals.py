"""Requests signed by botocore's own SigV4 signer, then broken one way each,
sent raw to the TCP listener. Prints {"case": "ExceptionName", ...} and exits
non-zero if any case is not refused with the name AWS uses for it."""
import datetime
import http.client
import json
import os
import urllib.parse
from unittest import mock

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

endpoint = os.environ["AWS_ENDPOINT_URL_KMS"]
region = os.environ["AWS_DEFAULT_REGION"]
key_id, secret = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
host = urllib.parse.urlsplit(endpoint).netloc


def signed(body=b"{}", target="TrentService.ListKeys", access_key=key_id, secret_key=secret, when=None,
           signing_region=region):
    request = AWSRequest(method="POST", url=endpoint + "/", data=body,
                         headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target})
    now = when or datetime.datetime.now(datetime.timezone.utc)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=now):
        botocore.auth.SigV4Auth(Credentials(access_key, secret_key), "kms", signing_region).add_auth(request)
    return dict(request.headers), body


def send(headers, body):
    connection = http.client.HTTPConnection(host, timeout=10)
    connection.request("POST", "/", body=body, headers=headers)
    response = connection.getresponse()
    payload = json.loads(response.read() or b"{}")
    connection.close()
    return response.status, payload.get("__type", "OK"), payload.get("message", "")


results = {}
expected = {}

status, name, _ = send(*signed())
results["valid"], expected["valid"] = name, "OK"

results["wrong secret"], expected["wrong secret"] = send(*signed(secret_key="x" * 40))[1], "InvalidSignatureException"

old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)
results["old x-amz-date"], expected["old x-amz-date"] = send(*signed(when=old))[1], "InvalidSignatureException"

headers, body = signed(body=b'{"Limit":1}')
results["tampered body"], expected["tampered body"] = send(headers, b'{"Limit":2}')[1], "InvalidSignatureException"

headers, body = signed(target="TrentService.ListKeys")
headers["X-Amz-Target"] = "TrentService.ListAliases"
results["tampered target"], expected["tampered target"] = send(headers, body)[1], "InvalidSignatureException"

headers, body = signed()
del headers["Authorization"]
results["missing Authorization"], expected["missing Authorization"] = send(headers, body)[1], "MissingAuthenticationTokenException"

results["unknown access key"], expected["unknown access key"] = (
    send(*signed(access_key="P11KUNKNOWNUNKNOWN00"))[1], "UnrecognizedClientException")

headers, body = signed()
headers["Authorization"] = headers["Authorization"].split(", Signature=")[0]
results["no Signature field"], expected["no Signature field"] = send(headers, body)[1], "IncompleteSignatureException"

results["wrong region"], expected["wrong region"] = send(*signed(signing_region="us-east-1"))[1], "InvalidSignatureException"

print(json.dumps(results))
wrong = {case: (results[case], expected[case]) for case in expected if results[case] != expected[case]}
if wrong:
    raise SystemExit(f"refused with the wrong names (got, expected): {wrong}")
