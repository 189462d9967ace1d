"""Archive pipeline bench: loopback HTTPS -> open_archive -> ArchiveStream -> S3ArchiveStore.put -> SeaweedFS.

A generated ZIP (stored entries, correct CRCs and central directory; default 1 GiB,
never held in memory) is served over loopback HTTPS with a trustme CA by
``tests.support.https_server`` in its own process, and uploaded into a ``weed mini``
SeaweedFS on loopback, twice:

* ``boto3 baseline``: ``requests`` stream -> ``client.upload_fileobj`` with boto3's
  default ``TransferConfig``;
* ``our pipeline``: ``open_archive`` (SSRF checks) -> ``ArchiveStream`` (SHA-256, byte
  limit, ZIP check) -> ``S3ArchiveStore.put`` (bounded multipart, version, tag).

Each variant runs in its own child process, which reports its wall time, its CPU time
and the growth of its peak RSS (``VmHWM`` after the upload minus ``VmHWM`` once everything is imported
and the client built; the high-water mark cannot be lowered, hence one process each).

    .venv/bin/python bench/archive_bench.py [--size 1GiB] [--chunk-mib 8] [--concurrency 4] [--in-memory 4]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.s3server import S3Endpoint, start_seaweedfs  # noqa: E402

VARIANTS = {"baseline": "boto3 baseline", "pipeline": "our pipeline"}
_UNITS = {"": 1, "b": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "kb": 10**3, "mb": 10**6, "gb": 10**9}


def parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    if match is None or match[2].lower() not in _UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 1GiB, 256MiB)")
    return int(float(match[1]) * _UNITS[match[2].lower()])


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def high_water_kib() -> int:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+([0-9]+) kB", status)[1])  # type: ignore[index]


# --- child: one variant ------------------------------------------------------------------------


def run_baseline(args: argparse.Namespace) -> dict[str, Any]:
    import boto3
    import requests

    client = boto3.session.Session().client("s3")
    session = requests.Session()
    session.trust_env = False
    before, cpu = high_water_kib(), cpu_seconds()
    started = time.perf_counter()
    with session.get(args.url, stream=True, verify=args.ca_bundle, timeout=(10, 60)) as response:
        response.raise_for_status()
        client.upload_fileobj(response.raw, args.bucket, "baseline/archive.zip")
    seconds = time.perf_counter() - started
    size = client.head_object(Bucket=args.bucket, Key="baseline/archive.zip")["ContentLength"]
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds() - cpu,
        "bytes": size,
        "hwm_before_kib": before,
        "hwm_after_kib": high_water_kib(),
    }


def run_pipeline(args: argparse.Namespace) -> dict[str, Any]:
    from receiver.fetching import FetchPolicy, open_archive
    from storage.archives import ArchiveStream, S3ArchiveStore, S3Options

    options = S3Options(
        chunk_size=args.chunk_mib << 20, max_concurrency=args.concurrency, max_in_memory_chunks=args.in_memory
    )
    store = S3ArchiveStore(args.bucket, "pipeline", options)
    port = args.url.split(":")[2].split("/")[0]
    loopback = (f"127.0.0.1:{port}",)
    policy = FetchPolicy(allowed_hosts=loopback, private_hosts=loopback, ca_bundle=args.ca_bundle)
    before, cpu = high_water_kib(), cpu_seconds()
    started = time.perf_counter()
    with open_archive(args.url, policy) as source:
        stream = ArchiveStream(source, max_bytes=args.size + 1)
        stored = store.put("messagebird/bench-request.zip", stream, metadata={"request-id": "bench-request"})
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds() - cpu,
        "bytes": stored.size,
        "hwm_before_kib": before,
        "hwm_after_kib": high_water_kib(),
        "sha256": stored.sha256,
        "tagged": stored.sha256_tagged,
    }


# --- parent: servers, children, table ----------------------------------------------------------


def start_archive_server(data_size: int) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.support.https_server", "--zip-size", str(data_size)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    return server, json.loads(server.stdout.readline())


def run_child(
    variant: str, args: argparse.Namespace, served: dict[str, Any], endpoint: S3Endpoint, bucket: str
) -> dict[str, Any]:
    command = [
        sys.executable, __file__, "--child", variant, "--url", served["url"], "--ca-bundle", served["ca_bundle"],
        "--bucket", bucket, "--size", str(served["size"]), "--chunk-mib", str(args.chunk_mib),
        "--concurrency", str(args.concurrency), "--in-memory", str(args.in_memory),
    ]  # fmt: skip
    clean = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    environment = {**clean, **endpoint.env(), "PYTHONPATH": str(ROOT)}
    output = subprocess.run(command, env=environment, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def print_table(results: dict[str, dict[str, Any]], archive_size: int) -> None:
    baseline = results["baseline"]["bytes"] / results["baseline"]["seconds"]
    print(f"\narchive: {archive_size / (1 << 20):.0f} MiB ZIP over loopback HTTPS into SeaweedFS on loopback")
    print(f"{'variant':<16}{'seconds':>9}{'MiB/s':>9}{'vs boto3':>10}{'CPU s':>8}{'peak RSS growth':>18}")
    for variant, label in VARIANTS.items():
        result = results[variant]
        rate = result["bytes"] / result["seconds"]
        growth = (result["hwm_after_kib"] - result["hwm_before_kib"]) / 1024
        print(
            f"{label:<16}{result['seconds']:>9.1f}{rate / (1 << 20):>9.0f}{rate / baseline:>9.2f}x"
            f"{result['cpu_seconds']:>8.1f}{growth:>14.0f} MiB"
        )


def sha256_of(archive: Any) -> str:
    digest = hashlib.sha256()
    for chunk in archive.chunks():
        digest.update(chunk)
    return digest.hexdigest()


def bench(args: argparse.Namespace) -> None:
    from tests.support.zips import StreamedZip

    overhead = StreamedZip(args.size).size - args.size  # headers and central directory
    data_size = args.size - overhead  # so that the whole ZIP is about --size
    with tempfile.TemporaryDirectory(prefix="archive-bench-") as workdir, start_seaweedfs(Path(workdir)) as endpoint:
        server, served = start_archive_server(data_size)
        try:
            bucket = endpoint.new_bucket()
            results = {variant: run_child(variant, args, served, endpoint, bucket) for variant in VARIANTS}
        finally:
            assert server.stdin is not None
            server.stdin.close()
            server.wait(timeout=30)
    for variant, result in results.items():
        if result["bytes"] != served["size"]:
            raise SystemExit(f"{variant} stored {result['bytes']} bytes, expected {served['size']}")
    if results["pipeline"]["sha256"] != sha256_of(StreamedZip(data_size)):
        raise SystemExit("the pipeline's SHA-256 is not the served archive's")
    print_table(results, served["size"])
    print(
        f"pipeline: sha256 {results['pipeline']['sha256']} (matches the served archive),"
        f" tagged: {results['pipeline']['tagged']}"
    )
    print(f"settings: chunk {args.chunk_mib} MiB, concurrency {args.concurrency}, in-memory chunks {args.in_memory}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=parse_size, default=1 << 30, help="archive size (default 1GiB)")
    parser.add_argument("--chunk-mib", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--in-memory", type=int, default=4, help="max_in_memory_chunks")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--ca-bundle", help=argparse.SUPPRESS)
    parser.add_argument("--bucket", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is None:
        bench(args)
        return
    result = run_baseline(args) if args.child == "baseline" else run_pipeline(args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
