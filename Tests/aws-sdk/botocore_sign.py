"""Signs one KMS request with botocore's own SigV4 signer at a fixed time and
prints the request (headers, body) as JSON, for SigV4Tests to verify."""
import datetime
import json
import sys
from unittest import mock

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

access_key, secret, region, when, body = sys.argv[1:6]
fixed = datetime.datetime.strptime(when, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
request = AWSRequest(method="POST", url="http://127.0.0.1:4599/", data=body.encode(),
                     headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.Encrypt",
                              "User-Agent": "test/1.0"})
with mock.patch.object(botocore.auth, "get_current_datetime", return_value=fixed):
    botocore.auth.SigV4Auth(Credentials(access_key, secret), "kms", region).add_auth(request)
prepared = request.prepare()
print(json.dumps({"method": prepared.method, "uri": "/", "headers": dict(prepared.headers),
                  "body": prepared.body.decode()}))
