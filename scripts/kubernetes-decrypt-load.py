#!/usr/bin/env python3
"""Closed-loop Decrypt load on the Kubernetes KMS v2 plugin socket, as
kube-apiserver puts it when it starts and decrypts every Secret's seed.

Usage: kubernetes-decrypt-load.py --socket S --proto api.proto
           [--in-flight 16] [--duration 10] [--warmup 1] [--daemon-pid PID]

A standard grpcio client (grpc.aio, one channel, as kube-apiserver uses one
connection): it seals 64 seeds with Encrypt, then keeps --in-flight Decrypt
calls outstanding for --duration seconds after --warmup, checks every
plaintext, and prints one JSON row for scripts/bench (section "kubernetes")
with the rate and latency percentiles. The client runs on the same machine
and its own CPU time is part of every latency measured, so the figures are
an upper bound on what the daemon adds.
"""
import argparse
import asyncio
import importlib
import json
import os
import secrets
import sys
import tempfile
import time

import grpc
from grpc_tools import protoc


def stubs(proto):
    out = tempfile.mkdtemp(prefix="kms-v2-stubs-")
    include = os.path.dirname(os.path.abspath(proto))
    if protoc.main(["grpc_tools.protoc", "-I", include, "--python_out", out, "--grpc_python_out", out,
                    os.path.basename(proto)]) != 0:
        raise SystemExit("kubernetes-decrypt-load: protoc failed on " + proto)
    sys.path.insert(0, out)
    return importlib.import_module("api_pb2"), importlib.import_module("api_pb2_grpc")


def cpu_seconds(pid):
    """utime + stime of a process, from /proc (clock ticks to seconds)."""
    if pid is None:
        return None
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(sorted_values, q):
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


async def run(args, pb, rpc):
    async with grpc.aio.insecure_channel("unix:" + args.socket) as channel:
        client = rpc.KeyManagementServiceStub(channel)
        seeds = [secrets.token_bytes(32) for _ in range(64)]
        sealed = [await client.Encrypt(pb.EncryptRequest(plaintext=s, uid="bench-seed"), timeout=30) for s in seeds]
        latencies, errors, first_error = [], 0, None
        measuring, stop_at = False, time.monotonic() + args.warmup + args.duration

        async def worker(n):
            nonlocal errors, first_error
            i = n
            while time.monotonic() < stop_at:
                s = sealed[i % len(sealed)]
                request = pb.DecryptRequest(ciphertext=s.ciphertext, uid=f"bench-{i}", key_id=s.key_id,
                                            annotations=s.annotations)
                began = time.monotonic()
                try:
                    opened = await client.Decrypt(request, timeout=30)
                    ok = opened.plaintext == seeds[i % len(seeds)]
                    detail = "plaintext differs"
                except grpc.aio.AioRpcError as e:
                    ok, detail = False, f"{e.code().name}: {e.details()}"
                if measuring:
                    latencies.append(time.monotonic() - began)
                    if not ok:
                        errors += 1
                        first_error = first_error or detail
                i += args.in_flight

        workers = [asyncio.create_task(worker(n)) for n in range(args.in_flight)]
        await asyncio.sleep(args.warmup)
        measuring, cpu_before, began = True, cpu_seconds(args.daemon_pid), time.monotonic()
        await asyncio.gather(*workers)
        elapsed, cpu_after = time.monotonic() - began, cpu_seconds(args.daemon_pid)

    latencies.sort()
    ms = lambda q: round(percentile(latencies, q) * 1000, 3) if latencies else None
    row = {
        "section": "kubernetes", "operation": "Kubernetes KMS v2 Decrypt (grpcio client)", "op": "k8s-decrypt",
        "connections": args.in_flight, "ops": len(latencies), "errors": errors, "seconds": round(elapsed, 3),
        "ops_per_s": round(len(latencies) / elapsed, 1), "p50_ms": ms(0.50), "p99_ms": ms(0.99), "p999_ms": ms(0.999),
    }
    if cpu_before is not None and latencies:
        row["daemon_cpu_us_per_op"] = round((cpu_after - cpu_before) * 1e6 / len(latencies), 1)
    if first_error:
        row["first_error"] = first_error
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", required=True, help="the plugin's Unix socket")
    parser.add_argument("--proto", required=True, help="k8s.io/kms/apis/v2/api.proto")
    parser.add_argument("--in-flight", type=int, default=16, help="Decrypt calls outstanding at once (default 16)")
    parser.add_argument("--duration", type=float, default=10, help="measured seconds (default 10)")
    parser.add_argument("--warmup", type=float, default=1, help="unmeasured seconds first (default 1)")
    parser.add_argument("--daemon-pid", type=int, help="p11kmsd's pid, for its CPU time per request")
    args = parser.parse_args()
    pb, rpc = stubs(args.proto)
    row = asyncio.run(run(args, pb, rpc))
    print(json.dumps(row, sort_keys=True))
    print(f"  kubernetes  Decrypt {args.in_flight} in flight: {row['ops_per_s']} ops/s  p50 {row['p50_ms']}  "
          f"p99 {row['p99_ms']}  p99.9 {row['p999_ms']} ms{'  ' + str(row['errors']) + ' ERRORS' if row['errors'] else ''}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
