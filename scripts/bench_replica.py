#!/usr/bin/env python3
"""make bench-replica: the compose layout (make run-pg: PostgreSQL with its hot standby, the order service on
two shards) on a release build, under the checkout benchmark. Prints checkouts/s and latency, the standby's
replay lag as the primary sees it (pg_stat_replication: replay_lag and bytes not yet replayed, sampled every
0.2 s) and the reads each service sent to the standby and to the primary while two readers poll a customer's
order history and the saga list.

Settings: CONCURRENCY (32), DURATION seconds (20).
"""
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
CONCURRENCY = int(os.environ.get("CONCURRENCY", "32"))
DURATION = int(os.environ.get("DURATION", "20"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else 0.0


subprocess.run(["swift", "build", "-c", "release"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
binaries = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()
data = pathlib.Path(tempfile.mkdtemp(prefix="bench-replica-"))
os.chmod(data, 0o755)  # the PostgreSQL server runs as postgres
pg_port, replica_port = free_port(), free_port()
offset = 18280 - 8080
runner = subprocess.Popen([sys.executable, "-u", str(ROOT / "scripts" / "run_pg.py"), "--data", str(data), "--port-offset", str(offset),
                           "--pg-port", str(pg_port), "--replica-port", str(replica_port), "--bin", binaries],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
try:
    for line in runner.stdout:
        if "is running" in line:
            break
        if "exited" in line or "did not become ready" in line:
            sys.exit(line)
    gateway = f"http://127.0.0.1:{8080 + offset}"
    request = urllib.request.Request(gateway + "/v1/products", method="POST", data=b'{"sku":"BENCH-001","name":"Benchmark item",'
                                     b'"priceCents":100,"currency":"EUR","stock":100000000}',
                                     headers={"Authorization": "Bearer admin-dev-key", "Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10)

    samples, stop = [], threading.Event()
    primary = dict(os.environ, PGHOST="127.0.0.1", PGPORT=str(pg_port), PGUSER="postgres", PGPASSWORD=os.environ.get("POSTGRES_PASSWORD", "dev-postgres-password"))

    def sample():
        while not stop.is_set():
            row = subprocess.run(["psql", "-d", "postgres", "-tAF", " ", "-c",
                                  "SELECT COALESCE(EXTRACT(EPOCH FROM replay_lag), 0), pg_wal_lsn_diff(sent_lsn, replay_lsn) "
                                  "FROM pg_stat_replication"], env=primary, capture_output=True, text=True).stdout.split()
            if len(row) == 2:
                samples.append((float(row[0]), float(row[1])))
            time.sleep(0.2)

    # Readers beside the checkouts: a customer's order history and the saga list, as a console would poll them.
    def read(path, key):
        while not stop.is_set():
            try:
                urllib.request.urlopen(urllib.request.Request(gateway + path, headers={"Authorization": f"Bearer {key}"}), timeout=10).read()
            except Exception:
                pass
            time.sleep(0.05)

    threads = [threading.Thread(target=sample), threading.Thread(target=read, args=("/v1/orders?limit=20", "alice-dev-key")),
               threading.Thread(target=read, args=("/v1/sagas?limit=20", "admin-dev-key"))]
    for thread in threads:
        thread.start()
    print(f"replica benchmark: the compose layout (PostgreSQL + hot standby, order on 2 shards), {CONCURRENCY} clients for {DURATION}s")
    subprocess.run([f"{binaries}/load", "--no-progress", "--sku", "BENCH-001", "--gateway", gateway, "--concurrency", str(CONCURRENCY), "--duration", str(DURATION)],
                   check=True)
    stop.set()
    for thread in threads:
        thread.join()
    lags, behind = [s[0] * 1000 for s in samples], [s[1] for s in samples]
    print(f"standby replay lag ms ({len(samples)} samples): p50 {percentile(lags, 0.5):.1f}  p99 {percentile(lags, 0.99):.1f}  "
          f"max {max(lags, default=0):.1f}")
    print(f"WAL not yet replayed, bytes: p50 {percentile(behind, 0.5):.0f}  p99 {percentile(behind, 0.99):.0f}  max {max(behind, default=0):.0f}")
    for name, port in (("inventory", 8081), ("order", 8082), ("saga", 8085)):
        text = urllib.request.urlopen(f"http://127.0.0.1:{port + offset}/metrics", timeout=10).read().decode()
        counts = {}
        for target, value in re.findall(r'^db_reads_total\{[^}]*target="(\w+)"[^}]*\} (\S+)$', text, re.M):
            counts[target] = counts.get(target, 0) + float(value)
        print(f"  {name:10} reads: standby {counts.get('replica', 0):.0f}, primary {counts.get('primary', 0):.0f}")
finally:
    runner.terminate()
    try:
        runner.wait(timeout=60)
    except subprocess.TimeoutExpired:
        runner.kill()
    shutil.rmtree(data, ignore_errors=True)
