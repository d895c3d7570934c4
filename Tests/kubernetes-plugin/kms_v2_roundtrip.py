"""A standard gRPC client of the Kubernetes KMS v2 plugin, as kube-apiserver is.

Usage: kms_v2_roundtrip.py SOCKET PROTO

Generates Python stubs from PROTO (k8s.io/kms/apis/v2/api.proto) into a
temporary directory with grpc_tools' protoc, then calls Status, Encrypt and
Decrypt over unix:SOCKET with grpcio and prints what it saw as one JSON
object. Any gRPC error is printed as {"error": CODE, "details": ...}.
"""
import importlib
import json
import os
import secrets
import sys
import tempfile

import grpc
from grpc_tools import protoc


def stubs(proto):
    out = tempfile.mkdtemp(prefix="kms-v2-stubs-")
    include = os.path.dirname(os.path.abspath(proto))
    status = protoc.main(["grpc_tools.protoc", "-I", include, "--python_out", out, "--grpc_python_out", out,
                          os.path.basename(proto)])
    if status != 0:
        raise SystemExit(f"protoc failed with {status}")
    sys.path.insert(0, out)
    return importlib.import_module("api_pb2"), importlib.import_module("api_pb2_grpc")


def main():
    socket, proto = sys.argv[1], sys.argv[2]
    pb, rpc = stubs(proto)
    with grpc.insecure_channel("unix:" + socket) as channel:
        client = rpc.KeyManagementServiceStub(channel)
        try:
            status = client.Status(pb.StatusRequest(), timeout=30)
            seed = secrets.token_bytes(32)
            sealed = client.Encrypt(pb.EncryptRequest(plaintext=seed, uid="python-encrypt"), timeout=30)
            opened = client.Decrypt(pb.DecryptRequest(ciphertext=sealed.ciphertext, uid="python-decrypt",
                                                      key_id=sealed.key_id, annotations=sealed.annotations), timeout=30)
            changed = dict(sealed.annotations)
            changed[next(iter(changed))] = b"someone-else"
            try:
                client.Decrypt(pb.DecryptRequest(ciphertext=sealed.ciphertext, uid="python-tampered",
                                                  key_id=sealed.key_id, annotations=changed), timeout=30)
                tampered = "OK"
            except grpc.RpcError as e:
                tampered = e.code().name
        except grpc.RpcError as e:
            print(json.dumps({"error": e.code().name, "details": e.details()}))
            return
    print(json.dumps({
        "version": status.version, "healthz": status.healthz, "status_key_id": status.key_id,
        "encrypt_key_id": sealed.key_id, "ciphertext_bytes": len(sealed.ciphertext),
        "annotation_keys": sorted(sealed.annotations.keys()), "round_trip": opened.plaintext == seed,
        "changed_annotation": tampered,
    }))


if __name__ == "__main__":
    main()
