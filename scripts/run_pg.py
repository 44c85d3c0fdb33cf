#!/usr/bin/env python3
"""make run-pg: the docker-compose topology on this machine, read from docker-compose.yml itself.

A local PostgreSQL cluster under DATA/pg stands in for the `postgres` service (initdb on first use, the
same Deploy/postgres/init.sh applied), and the six executables run with the environment compose gives
them: service host names become 127.0.0.1, SQLite files under /var/lib/sagamart move to DATA/compose.
Secrets come from the environment, else .env, else .env.example (development values, said aloud).

  scripts/run_pg.py [--data DIR] [--port-offset N] [--pg-port P] [--replica-port R] [--check]

A hot standby (the compose file's postgres-replica) is made beside it at every start with pg_basebackup -R.

--check starts everything, runs one checkout through the gateway, stops, and exits 0 if all went well.
"""
import argparse
import ssl
import json
import os
import pathlib
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
parser = argparse.ArgumentParser()
parser.add_argument("--data", default=str(ROOT / "data"))
parser.add_argument("--port-offset", type=int, default=0)
parser.add_argument("--pg-port", type=int, default=15432)
parser.add_argument("--replica-port", type=int, default=None, help="the hot standby's port (default: --pg-port + 1)")
parser.add_argument("--bin", default=None, help="folder with the built executables")
parser.add_argument("--check", action="store_true")
parser.add_argument("--tls", action="store_true", help="start the TLS edge (Deploy/edge, Debian's nginx) in front of the gateway")
parser.add_argument("--https-port", type=int, default=8443, help="the edge's HTTPS port (compose: 443), shifted by --port-offset")
parser.add_argument("--http-port", type=int, default=8000, help="the edge's redirecting HTTP port (compose: 80), shifted too")
args = parser.parse_args()
data = pathlib.Path(args.data).resolve()
replica_port = args.replica_port or args.pg_port + 1
PG_BIN = next((p for p in sorted(pathlib.Path("/usr/lib/postgresql").glob("*/bin"), reverse=True) if (p / "initdb").exists()), None)
if PG_BIN is None:
    sys.exit("PostgreSQL server binaries not found: run make deps")


def settings():
    values = {}
    for name in (".env.example", ".env"):
        path = ROOT / name
        if path.exists():
            for line in path.read_text().splitlines():
                if "=" in line and not line.lstrip().startswith("#"):
                    key, value = line.split("=", 1)
                    values[key.strip()] = value.strip()
            source = name
    values.update({k: v for k, v in os.environ.items()})
    print(f"secrets from the environment, else {source}" + (" (development values)" if source == ".env.example" else ""))
    return values


VALUES = settings()


def substitute(text):
    def replace(match):
        name, operator, word = match.group(1), match.group(2) or "", match.group(3) or ""
        value = VALUES.get(name, "")
        if operator == ":?" and not value:
            sys.exit(f"{name} must be set: {word}")
        if operator == ":-" and not value:
            return word
        return value
    return re.sub(r"\$\{([A-Z0-9_]+)(:\?|:-)?([^}]*)\}", replace, str(text))


compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
services = {name: spec for name, spec in compose["services"].items() if name not in ("postgres", "postgres-replica", "edge")}
offset = args.port_offset


def local(value, names):
    """Compose host names to 127.0.0.1, ports shifted, SQLite paths into the data folder."""
    value = substitute(value)
    value = value.replace("@postgres:5432/", f"@127.0.0.1:{args.pg_port}/")
    value = value.replace("@postgres-replica:5432/", f"@127.0.0.1:{replica_port}/")
    value = value.replace("sqlite:///var/lib/sagamart/", f"sqlite://{data}/compose/")
    for name in names:
        def shift(match):
            return f"http://127.0.0.1:{int(match.group(1)) + offset}"
        value = re.sub(rf"http://{name}:(\d+)", shift, value)
    return value


def run(command, **kwargs):
    return subprocess.run(command, check=True, **kwargs)


def as_postgres(command, **kwargs):
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--"] + command
    return run(command, **kwargs)


# The PostgreSQL service.
pg = data / "pg"
env_pg = dict(os.environ, PGHOST="127.0.0.1", PGPORT=str(args.pg_port), PGUSER="postgres", PGPASSWORD=VALUES["POSTGRES_PASSWORD"])
for key in ("INVENTORY_DB_PASSWORD", "ORDER_DB_PASSWORD", "SAGA_DB_PASSWORD"):
    env_pg[key] = VALUES[key]
(data / "compose").mkdir(parents=True, exist_ok=True)
fresh = not (pg / "PG_VERSION").exists()
if fresh:
    pg.mkdir(parents=True, exist_ok=True)
    password_file = data / "pg.pw"
    password_file.write_text(VALUES["POSTGRES_PASSWORD"] + "\n")
    if os.geteuid() == 0:
        shutil.chown(pg, "postgres", "postgres")
        shutil.chown(password_file, "postgres", "postgres")
    as_postgres([str(PG_BIN / "initdb"), "-D", str(pg), "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256",
                 f"--pwfile={password_file}", "-E", "UTF8"], stdout=subprocess.DEVNULL)
    password_file.unlink()
if os.geteuid() == 0:
    shutil.chown(pg, "postgres", "postgres")

# WAL archiving into a pgBackRest repository (make backup, make restore AT=...), as in docker-compose.
# The repository lives with make backup's sets (BACKUP_DIR, default ./backups); a run on another data folder
# (the --check of make test) keeps its own beside its data, since a repository belongs to one cluster.
default_backups = ROOT / "backups" if data == (ROOT / "data").resolve() else data / "backups"
backups = pathlib.Path(VALUES.get("BACKUP_DIR") or default_backups).resolve()
repository, pgbackrest_conf = backups / "pgbackrest", data / "pgbackrest.conf"
for folder in (repository, data / "pgbackrest-log", data / "pgbackrest-lock"):
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
cipher = f"repo1-cipher-type=aes-256-cbc\nrepo1-cipher-pass={VALUES['BACKUP_KEY']}\n" if VALUES.get("BACKUP_KEY") else ""
pgbackrest_conf.write_text(f"""[global]
repo1-path={repository}
repo1-retention-full=4
{cipher}log-path={data / "pgbackrest-log"}
lock-path={data / "pgbackrest-lock"}
log-level-console=warn
compress-type=lz4

[sagamart]
pg1-path={pg}
pg1-port={args.pg_port}
pg1-socket-path={pg}
pg1-user=postgres
""")
os.chmod(pgbackrest_conf, 0o600)
if os.geteuid() == 0:
    shutil.chown(pgbackrest_conf, "postgres", "postgres")
archiving = (f"wal_level = replica\narchive_mode = on\narchive_timeout = 60\n"
             f"archive_command = 'pgbackrest --config={pgbackrest_conf} --stanza=sagamart archive-push %p'\n")
(pg / "sagamart-archiving.conf").write_text(archiving)
if os.geteuid() == 0:
    shutil.chown(pg / "sagamart-archiving.conf", "postgres", "postgres")
configuration = (pg / "postgresql.conf").read_text()
if "include_if_exists = 'sagamart-archiving.conf'" not in configuration:
    (pg / "postgresql.conf").write_text(configuration + "\ninclude_if_exists = 'sagamart-archiving.conf'\n")
server_options = f"-p {args.pg_port} -k {pg} -c listen_addresses=127.0.0.1"
as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(pg), "-l", str(pg / "server.log"), "-w", "start", "-o", server_options],
            stdout=subprocess.DEVNULL)
as_postgres(["pgbackrest", f"--config={pgbackrest_conf}", "--stanza=sagamart", "stanza-create"], stdout=subprocess.DEVNULL)
processes = []


def stop(*_):
    for _, process in reversed(processes):
        process.send_signal(signal.SIGTERM)
    for _, process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
    if (replica / "postmaster.pid").exists():
        subprocess.run((["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []) +
                       [str(PG_BIN / "pg_ctl"), "-D", str(replica), "-m", "fast", "-w", "stop"], stdout=subprocess.DEVNULL)
    as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(pg), "-m", "fast", "-w", "stop"], stdout=subprocess.DEVNULL)


# The postgres-replica service: a hot standby of the cluster, made afresh at every start with pg_basebackup -R
# as the replication role that Deploy/postgres/replication.sh creates (a restore of the primary leaves no
# stale standby behind).
replica = data / "pg-replica"


def start_standby():
    run(["bash", str(ROOT / "Deploy" / "postgres" / "replication.sh")],
        env=dict(env_pg, PGDATA=str(pg), REPLICATION_PASSWORD=VALUES["REPLICATION_PASSWORD"]))
    if replica.exists():
        shutil.rmtree(replica)
    replica.mkdir(mode=0o700)
    if os.geteuid() == 0:
        shutil.chown(replica, "postgres", "postgres")
    as_postgres([str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(args.pg_port), "-U", "replicator", "-D", str(replica),
                 "-R", "-X", "stream", "-c", "fast"], env=dict(os.environ, PGPASSWORD=VALUES["REPLICATION_PASSWORD"]))
    as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(replica), "-l", str(replica / "server.log"), "-w", "start", "-o",
                 f"-p {replica_port} -k {replica} -c listen_addresses=127.0.0.1 -c hot_standby=on"], stdout=subprocess.DEVNULL)


try:
    run(["bash", str(ROOT / "Deploy" / "postgres" / "init.sh")], env=env_pg)
    start_standby()

    # The services, in dependency order, each with its compose environment.
    binaries = pathlib.Path(args.bin) if args.bin else pathlib.Path(
        subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip())
    order, seen = [], set()

    def visit(name):
        if name in seen or name not in services:
            return
        seen.add(name)
        for dependency in services[name].get("depends_on", {}):
            visit(dependency)
        order.append(name)

    for name in services:
        visit(name)
    (data / "logs").mkdir(exist_ok=True)
    # The layout for the operators' commands (make backup, make restore, make audit), which load this file.
    environments = {name: {key: local(value, services) for key, value in services[name].get("environment", {}).items()}
                    for name in order}
    ports = [str(int(environments[name]["PORT"]) + offset) for name in order]
    ops = {
        # A sharded service lists each of its databases (order-0, order-1, ...).
        "BACKUP_SERVICES": ",".join(
            f"{name}={environments[name]['DATABASE_URL']}" if "DATABASE_URL" in environments[name]
            else ",".join(f"{name}-{index}={url}" for index, url in enumerate(environments[name]["ORDER_SHARDS"].split(",")))
            for name in order),
        **({"ORDER_SHARDS": environments["order"]["ORDER_SHARDS"]} if "ORDER_SHARDS" in environments.get("order", {}) else {}),
        "SERVICE_PORTS": ",".join(ports),
        "RECONCILE_MARKER": str(data / "RECONCILE_PENDING"),
        "PGBACKREST_CONFIG": str(pgbackrest_conf), "PGBACKREST_STANZA": "sagamart",
        "PG_DATA": str(pg), "PG_BIN": str(PG_BIN), "PG_PORT": str(args.pg_port), "PG_SERVER_OPTIONS": server_options,
        # make audit signs as the auditor, with its own key (the development pair when none is set).
        "SAGAMART_ENV": environments["saga"].get("SAGAMART_ENV", "production"),
        **({"SERVICE_SIGNING_KEY": VALUES["AUDITOR_SIGNING_KEY"]} if VALUES.get("AUDITOR_SIGNING_KEY") else {}),
        **({"SERVICE_KEYS": VALUES["SERVICE_KEYS"]} if VALUES.get("SERVICE_KEYS") else {}),
        # The repository's cipher passphrase: make backup encrypts the SQLite copies with the same key.
        **({"BACKUP_KEY": VALUES["BACKUP_KEY"]} if VALUES.get("BACKUP_KEY") else {}),
        **{f"{name.upper()}_URL": environments["gateway"][f"{name.upper()}_URL"]
           for name in ("inventory", "order", "payment", "shipping", "saga")},
    }
    (data / "ops.env").write_text("".join(f"{key}={shlex.quote(value)}\n" for key, value in ops.items()))
    os.chmod(data / "ops.env", 0o600)
    # What the image sets for every process (Deploy/Dockerfile's ENV), as a container would have it: a value
    # in this environment wins, as `docker run -e` would over the image's.
    image_env = {key: value for key, value in re.findall(r"(GLIBC_TUNABLES)=(\S+)", (ROOT / "Deploy" / "Dockerfile").read_text())
                 if key not in os.environ}
    for name in order:
        spec = services[name]
        environment = {**image_env, **{key: local(value, services) for key, value in spec.get("environment", {}).items()}}
        environment["PORT"] = str(int(environment["PORT"]) + offset)
        # Containers listen on every interface of their own network; on this machine, loopback only.
        environment["HOST"] = "127.0.0.1"
        log = open(data / "logs" / f"{name}.log", "a")
        process = subprocess.Popen([str(binaries / spec["command"][0])], env=dict(os.environ, **environment), stdout=log, stderr=log, cwd=data)
        processes.append((name, process))
        # The compose health check's URL, on the shifted port.
        health = re.sub(r"http://127\.0\.0\.1:(\d+)", lambda m: f"http://127.0.0.1:{int(m.group(1)) + offset}", spec["healthcheck"]["test"][-1])
        for _ in range(300):
            try:
                if urllib.request.urlopen(health, timeout=2).status == 200:
                    break
            except Exception:
                if process.poll() is not None:
                    raise SystemExit(f"{name} exited: see {data / 'logs' / (name + '.log')}")
                time.sleep(0.1)
        else:
            raise SystemExit(f"{name} did not become ready")
        print(f"  {name:10} {health}  ready")
    gateway = f"http://127.0.0.1:{int(services['gateway']['environment']['PORT']) + offset}"
    tls_context = None
    if args.tls:
        # The edge compose runs, from Debian's nginx, with a development certificate made here.
        tls = data / "tls"
        run(["bash", str(ROOT / "scripts" / "dev-cert.sh"), str(tls)])
        https_port = args.https_port + offset
        log = open(data / "logs" / "edge.log", "a")
        edge = subprocess.Popen(["bash", str(ROOT / "scripts" / "edge.sh"), str(data / "edge"), gateway.removeprefix("http://"),
                                 str(https_port), str(args.http_port + offset), str(tls)],
                                stdout=log, stderr=log)
        processes.append(("edge", edge))
        tls_context = ssl.create_default_context(cafile=str(tls / "dev-ca.pem"))
        gateway = f"https://localhost:{https_port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(gateway + "/health/live", timeout=2, context=tls_context)
                break
            except Exception:
                if edge.poll() is not None:
                    raise SystemExit(f"the TLS edge exited: see {data / 'logs' / 'edge.log'}")
                time.sleep(0.1)
        print(f"  edge       {gateway}  ready (trust {tls / 'dev-ca.pem'})")
    # After make restore: bring the services back to one consistent state, and report what the restore lost.
    if (data / "RECONCILE_PENDING").exists():
        report = data / f"restore-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
        (data / "RECONCILE_PENDING").rename(report)
        print(f"reconciling after the restore ({report}):")
        subprocess.run([str(binaries / "audit"), "reconcile", "--acknowledged", str(report)], env=dict(os.environ, **ops))
    if args.check:
        def call(method, path, key, body=None, headers=None):
            request = urllib.request.Request(gateway + path, method=method, data=json.dumps(body).encode() if body else None,
                                             headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json", **(headers or {})})
            try:
                with urllib.request.urlopen(request, timeout=30, context=tls_context) as response:
                    return response.status, json.loads(response.read() or b"{}")
            except urllib.error.HTTPError as error:
                return error.code, json.loads(error.read() or b"{}")
        admin = VALUES["ADMIN_API_KEY"]
        customer, customer_key = VALUES["CUSTOMER_API_KEYS"].split(",")[0].split(":")
        sku = f"PG-{int(time.time() * 1000)}"
        status, _ = call("POST", "/v1/products", admin, {"sku": sku, "name": "Compose check", "priceCents": 700, "currency": "EUR", "stock": 3})
        assert status == 201, f"create product: {status}"
        body = {"items": [{"sku": sku, "quantity": 2}], "payment": {"cardNumber": "4242424242424242", "expMonth": 12, "expYear": 2030, "cvc": "123"},
                "shipping": {"name": "Alice", "line1": "1 Main St", "city": "Berlin", "postalCode": "10115", "country": "DE"}}
        status, answer = call("POST", "/v1/checkout", customer_key, body, {"Idempotency-Key": sku})
        assert status == 201 and answer.get("status") == "APPROVED", f"checkout: {status} {answer}"
        status, product = call("GET", f"/v1/products/{sku}", admin)
        assert product.get("available") == 1, f"stock: {product}"
        # Each role reaches only its own database.
        for role, other in (("inventory", "order"), ("order", "saga"), ("saga", "inventory")):
            attempt = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(args.pg_port), "-U", role, "-d", other, "-c", "SELECT 1"],
                                     env=dict(env_pg, PGPASSWORD=VALUES[f"{role.upper()}_DB_PASSWORD"]), capture_output=True)
            assert attempt.returncode != 0, f"role {role} could connect to database {other}"
        # The standby is one, and streams: the new product reaches it.
        standby = dict(env_pg, PGPORT=str(replica_port))
        recovery = subprocess.run(["psql", "-tAc", "SELECT pg_is_in_recovery()", "-d", "postgres"], env=standby,
                                  capture_output=True, text=True, check=True).stdout.strip()
        assert recovery == "t", f"the standby is not in recovery: {recovery}"
        for _ in range(100):
            copied = subprocess.run(["psql", "-tAc", f"SELECT count(*) FROM products WHERE sku = '{sku}'", "-d", "inventory"],
                                    env=standby, capture_output=True, text=True).stdout.strip()
            if copied == "1":
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the product never reached the standby")
        if args.tls:
            # Plain HTTP at the edge only redirects to HTTPS, and no client trusts the edge without the CA.
            import http.client
            plain = http.client.HTTPConnection("127.0.0.1", args.http_port + offset, timeout=10)
            plain.request("GET", "/v1/products")
            redirect = plain.getresponse()
            assert redirect.status == 301 and redirect.getheader("Location", "").startswith("https://"), f"http: {redirect.status}"
            try:
                urllib.request.urlopen(gateway + "/health/live", timeout=10, context=ssl.create_default_context())
                raise AssertionError("the edge's certificate was trusted without the development CA")
            except urllib.error.URLError as error:
                assert isinstance(error.reason, ssl.SSLCertVerificationError), f"unexpected: {error}"
        print(f"check passed: checkout {answer['checkoutId']} APPROVED through {gateway}; the standby streams")
    else:
        print(f"\nSagaMart (compose topology) is running. Gateway: {gateway}\nCtrl-C stops every service and PostgreSQL.")
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while all(process.poll() is None for _, process in processes):
            time.sleep(0.5)
        print("a service exited; see", data / "logs")
except KeyboardInterrupt:
    pass
finally:
    stop()
