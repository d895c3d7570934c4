"""A burst of slow requests (RSA-3072 key generation) from 16 threads through
one boto3 client with the standard retry mode: the daemon answers the excess
with ThrottlingException, and boto3's retries must still get every key made.
Prints {"created": N, "retried": M}."""
import concurrent.futures
import json

import boto3
from botocore.config import Config

kms = boto3.client("kms", config=Config(retries={"mode": "standard", "max_attempts": 10}, max_pool_connections=16))


def create(_):
    response = kms.create_key(KeySpec="RSA_3072", KeyUsage="SIGN_VERIFY")
    return response["KeyMetadata"]["KeyId"], response["ResponseMetadata"]["RetryAttempts"]


with concurrent.futures.ThreadPoolExecutor(16) as pool:
    results = list(pool.map(create, range(16)))
print(json.dumps({"created": len({key for key, _ in results}), "retried": sum(1 for _, n in results if n > 0)}))
