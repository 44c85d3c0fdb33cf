#!/usr/bin/env python3
"""Checks docker-compose.yml and Deploy/k8s/ against the shared JSON schemas and against the code.

- docker-compose.yml validates against ../shared/schemas/compose-spec.json (draft 7);
- every environment variable a service reads without a default is set for it, and nothing it does not read;
- each *_URL points at the named service on the port that service listens on; health checks hit that port's
  /health/ready; dependencies wait for service_healthy; only the TLS edge publishes ports (443, and 80
  redirecting), proxies to the gateway with the template make run TLS=1 uses, and is the gateway's one
  trusted proxy; Kubernetes reaches the gateway through an Ingress with a TLS secret;
- every Kubernetes manifest validates against its kind's schema in ../shared/schemas/k8s/, probes hit
  /health/ready and /health/live on the container port, and the saga runs two replicas;
- a hot standby (postgres-replica) made by pg_basebackup -R from the replication role the primary's init
  scripts create, healthy only in recovery, whose copy of each database the PostgreSQL-backed services read.
Prints one line per problem and exits 1 if there is any.
"""
import json
import pathlib
import re
import sys

import jsonschema
import yaml

# --root PATH checks another copy of the repository (the tests use it on deliberately broken copies).
ROOT = pathlib.Path(sys.argv[sys.argv.index("--root") + 1]) if "--root" in sys.argv else pathlib.Path(__file__).resolve().parent.parent
SCHEMAS = pathlib.Path(__file__).resolve().parent.parent.parent / "shared" / "schemas"
SERVICES = {"gateway": 8080, "inventory": 8081, "order": 8082, "payment": 8083, "shipping": 8084, "saga": 8085}
# Tuning knobs with safe defaults, and test-only settings: a deployment need not set them.
OPTIONAL = {"HTTP_MAX_CONNECTIONS", "HTTP_HEADER_TIMEOUT", "HTTP_BODY_TIMEOUT", "HTTP_IDLE_TIMEOUT", "DATABASE_POOL_SIZE",
            "SAGA_CALL_TIMEOUT", "CHECKOUT_WAIT", "FAULT_INJECTION", "FAULTS", "SAGA_STEP_DEADLINE",
            "SAGA_LEASE", "SAGA_CLAIM_INTERVAL", "SAGA_REPLICA_ID", "CATALOG_CACHE_TTL", "FEED_WAIT_SECONDS",
            "DATABASE_READ_URL", "READ_REPLICA_MAX_LAG", "BUCKET_FENCE_TIMEOUT", "HOST", "HTTP_MAX_CONNECTIONS_PER_CLIENT",
            "HTTP_MAX_BUFFERED_BODY", "RATE_LIMITS", "RATE_LIMIT_PER_KEY", "RATE_LIMIT_PER_ADDRESS", "RATE_LIMIT_CHECKOUTS",
            "TRUSTED_PROXIES", "GATEWAY_MAX_BODY", "CATALOG_CACHE_ENTRIES", "ADMIN_API_KEYS",
            "OPERATOR", "RESERVATION_TTL", "RESERVATION_SWEEP_INTERVAL", "CHECKOUT_SAGA_VERSION", "FRAUD_REVIEW_CENTS",
            "SAGA_STUCK_AFTER", "CIRCUIT_BREAKER", "CIRCUIT_BREAKER_OPEN", "CHECKOUT_MAX_IN_FLIGHT", "SAGA_MAX_ACTIVE",
            "CHECKOUT_LATENCY_TARGET", "EVENT_LOOPS"}
# The keys of a service that seals data at rest (Keyring): set from the environment in compose (empty means
# the development keys, which production refuses), mounted from a Secret as files in Kubernetes.
KEY_VARIABLES = ("ENCRYPTION_KEYS", "ENCRYPTION_ACTIVE_KEY", "INDEX_KEY")
problems = []


def variables_read(service):
    """Environment variables a service reads: its own sources plus the kit every service runs."""
    folder = ROOT / "Services" / service.capitalize()
    if (folder / "App").is_dir():
        folder = folder / "App"
    own = list(folder.glob("*.swift"))
    kit = [source for source in (ROOT / "Shared" / "ServiceKit").glob("*.swift") if source.name != "Keyring.swift"]
    pattern = re.compile(r'(?:environment|env|self)\.(?:get|require|optional|url|port)\(\s*"([A-Z0-9_]+)"')
    names = {"PORT"}
    for source in own + kit:
        names.update(pattern.findall(source.read_text()))
    if seals_data(service):
        names.update(KEY_VARIABLES)
    return names


def seals_data(service):
    """Whether a service keeps data sealed with its Keyring (its executable asks the runtime for one)."""
    folder = ROOT / "Services" / service.capitalize()
    name = service.capitalize() + "Executable.swift"
    main = folder / "App" / name if (folder / "App").is_dir() else folder / name
    return "runtime.keyring()" in main.read_text()


def check_compose():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
    for error in jsonschema.Draft7Validator(schema).iter_errors(compose):
        problems.append(f"compose schema: {error.json_path}: {error.message}")
    services = compose.get("services", {})
    for name, port in SERVICES.items():
        service = services.get(name)
        if service is None:
            problems.append(f"compose: service {name} missing")
            continue
        environment = service.get("environment", {})
        read = variables_read(name)
        if "ORDER_SHARDS" in read:
            # A sharded service names its databases in ORDER_SHARDS (DATABASE_URL is its unsharded default).
            read.discard("DATABASE_URL")
            shards = str(environment.get("ORDER_SHARDS", "")).split(",")
            if len(shards) < 2 or not all(url.startswith("postgres://") for url in shards):
                problems.append(f"compose: {name} ORDER_SHARDS should list at least two PostgreSQL databases")
            if len(set(shards)) != len(shards):
                problems.append(f"compose: {name} ORDER_SHARDS lists a database twice")
            environment = {k: v for k, v in environment.items() if k != "ORDER_SHARDS"}
            environment["DATABASE_URL"] = shards[0]
            read.discard("ORDER_SHARDS")
            read.add("DATABASE_URL")
        for variable in sorted(read - OPTIONAL - set(environment)):
            problems.append(f"compose: {name} reads {variable} but it is not set")
        for variable in sorted(set(environment) - read):
            problems.append(f"compose: {name} sets {variable}, which it does not read")
        if str(environment.get("PORT")) != str(port):
            problems.append(f"compose: {name} PORT is {environment.get('PORT')}, expected {port}")
        for variable, value in environment.items():
            if variable.endswith("_URL") and variable not in ("DATABASE_URL", "DATABASE_READ_URL"):
                target = variable[:-4].lower()
                if value != f"http://{target}:{SERVICES.get(target)}":
                    problems.append(f"compose: {name} {variable}={value} does not point at {target}:{SERVICES.get(target)}")
        url = str(environment.get("DATABASE_URL", ""))
        expected_pg = name in {"inventory", "order", "saga"}
        if expected_pg != url.startswith("postgres://"):
            problems.append(f"compose: {name} DATABASE_URL should be {'PostgreSQL' if expected_pg else 'SQLite'}")
        if not expected_pg:
            mounts = [v.split(":")[1] for v in service.get("volumes", []) if isinstance(v, str)]
            if "/var/lib/sagamart" not in mounts or not url.startswith("sqlite:///var/lib/sagamart/"):
                problems.append(f"compose: {name} keeps its SQLite file outside a named volume")
        test = " ".join(service.get("healthcheck", {}).get("test", []))
        if f"http://127.0.0.1:{port}/health/ready" not in test:
            problems.append(f"compose: {name} healthcheck does not hit /health/ready on {port}")
        for dependency, condition in service.get("depends_on", {}).items():
            if condition.get("condition") != "service_healthy":
                problems.append(f"compose: {name} depends on {dependency} without service_healthy")
        if "ports" in service:
            problems.append(f"compose: {name} publishes a port (only the TLS edge may)")
        for variable in KEY_VARIABLES if seals_data(name) else ():
            if not re.fullmatch(rf"\$\{{{name.upper()}_{variable}:-\}}", str(environment.get(variable, ""))):
                problems.append(f"compose: {name} {variable} must come from {name.upper()}_{variable} in the environment")
        if environment.get("SERVICE_SIGNING_KEY") != f"${{{name.upper()}_SIGNING_KEY:-}}":
            problems.append(f"compose: {name} SERVICE_SIGNING_KEY must come from {name.upper()}_SIGNING_KEY: a key of its own")
        if environment.get("SERVICE_KEYS") != "${SERVICE_KEYS:-}":
            problems.append(f"compose: {name} SERVICE_KEYS must come from SERVICE_KEYS in the environment")
        for variable in ("ADMIN_API_KEY", "CUSTOMER_API_KEYS"):
            value = str(environment.get(variable, "${:?}"))
            if variable in environment and not re.fullmatch(r"\$\{[A-Z_]+:\?[^}]*\}", value):
                problems.append(f"compose: {name} {variable} must come from the environment with no default")
    for name, service in services.items():
        if name not in SERVICES and name not in ("postgres", "postgres-replica", "edge"):
            problems.append(f"compose: unexpected service {name}")
    # The cluster archives its WAL into a pgBackRest repository on a volume, with the stanza made at init.
    postgres = services.get("postgres", {})
    command = " ".join(postgres.get("command", []))
    for setting in ("wal_level=replica", "archive_mode=on", "archive_command=pgbackrest --stanza=sagamart archive-push %p"):
        if setting not in command:
            problems.append(f"compose: postgres does not run with {setting}")
    mounts = [v.split(":")[1] for v in postgres.get("volumes", []) if isinstance(v, str)]
    for mount in ("/var/lib/pgbackrest", "/etc/pgbackrest/pgbackrest.conf"):
        if mount not in mounts:
            problems.append(f"compose: postgres does not mount {mount}")
    if not any(m.startswith("/docker-entrypoint-initdb.d/") and "pgbackrest" in m for m in mounts):
        problems.append("compose: postgres does not create the pgBackRest stanza at init")
    check_standby(services)
    image = ROOT / str(postgres.get("build", {}).get("context", "")) / "Dockerfile"
    if not image.is_file() or "pgbackrest" not in image.read_text():
        problems.append("compose: postgres is not built from an image that installs pgbackrest")
    cipher = str(postgres.get("environment", {}).get("PGBACKREST_REPO1_CIPHER_PASS", ""))
    if not re.fullmatch(r"\$\{BACKUP_KEY:\?[^}]*\}", cipher):
        problems.append("compose: the pgBackRest repository is not encrypted with BACKUP_KEY from the environment")


def check_standby(services):
    """A hot standby of postgres: made by pg_basebackup -R from a replication role and pg_hba entry that the
    primary's init scripts create, healthy only in recovery, and read by every PostgreSQL-backed service."""
    postgres, replica = services.get("postgres", {}), services.get("postgres-replica")
    mounts = {v.split(":")[1]: v.split(":")[0] for v in postgres.get("volumes", []) if isinstance(v, str)}
    script = next((ROOT / source for target, source in mounts.items()
                   if target.startswith("/docker-entrypoint-initdb.d/") and "replication" in source), None)
    if script is None or not script.is_file():
        problems.append("compose: postgres does not create a replication role at init")
    else:
        text = script.read_text()
        if "REPLICATION" not in text or "host replication replicator" not in text:
            problems.append("compose: the replication init script does not make a replication role and its pg_hba entry")
    if not re.fullmatch(r"\$\{REPLICATION_PASSWORD:\?[^}]*\}", str(postgres.get("environment", {}).get("REPLICATION_PASSWORD", ""))):
        problems.append("compose: postgres takes REPLICATION_PASSWORD from the environment with no default")
    if replica is None:
        problems.append("compose: no postgres-replica (hot standby) service")
        return
    entry = " ".join(replica.get("entrypoint", []))
    replica_mounts = {v.split(":")[1]: v.split(":")[0] for v in replica.get("volumes", []) if isinstance(v, str)}
    standby = next((ROOT / source for target, source in replica_mounts.items() if target in entry), None)
    if standby is None or not standby.is_file() or not all(part in standby.read_text() for part in ("pg_basebackup", " -R ", "hot_standby=on")):
        problems.append("compose: postgres-replica does not start as a standby made by pg_basebackup -R")
    if replica.get("environment", {}).get("PRIMARY_HOST") != "postgres":
        problems.append("compose: postgres-replica does not stream from postgres")
    if "/var/lib/postgresql/data" not in replica_mounts:
        problems.append("compose: postgres-replica keeps its data outside a named volume")
    if "pg_is_in_recovery()" not in " ".join(replica.get("healthcheck", {}).get("test", [])):
        problems.append("compose: postgres-replica's health check does not know it is a standby")
    if replica.get("depends_on", {}).get("postgres", {}).get("condition") != "service_healthy":
        problems.append("compose: postgres-replica does not wait for a healthy postgres")
    check_edge(services)
    # Every PostgreSQL database a service uses has its reads' twin on the standby: same role, same database.
    for name in ("inventory", "order", "saga"):
        environment = services.get(name, {}).get("environment", {})
        primaries = str(environment.get("ORDER_SHARDS", environment.get("DATABASE_URL", ""))).split(",")
        reads = str(environment.get("ORDER_SHARD_READ_URLS", environment.get("DATABASE_READ_URL", ""))).split(",")
        expected = [url.replace("@postgres:5432/", "@postgres-replica:5432/") for url in primaries]
        if reads != expected:
            problems.append(f"compose: {name} does not read from the standby's copy of each of its databases")


def check_edge(services):
    """The TLS terminator: nginx with the shared template, publishing 443 and 80 only, on a fixed address the
    gateway trusts for X-Forwarded-For."""
    edge = services.get("edge")
    if edge is None:
        problems.append("compose: no TLS edge service (edge)")
        return
    if not str(edge.get("image", "")).startswith("nginx:"):
        problems.append("compose: the edge is not nginx's official image")
    if sorted(str(p) for p in edge.get("ports", [])) != ["443:443", "80:80"]:
        problems.append("compose: the edge must publish exactly 443 and 80")
    mounts = {v.split(":")[1]: v.split(":")[0] for v in edge.get("volumes", []) if isinstance(v, str)}
    if mounts.get("/etc/nginx/templates/default.conf.template") != "./Deploy/edge/edge.conf.template":
        problems.append("compose: the edge does not run Deploy/edge/edge.conf.template")
    environment = edge.get("environment", {})
    if environment.get("GATEWAY_UPSTREAM") != "gateway:8080":
        problems.append("compose: the edge does not proxy to gateway:8080")
    template = (ROOT / "Deploy" / "edge" / "edge.conf.template").read_text()
    for needle in ("listen ${EDGE_HTTPS_PORT} ssl", "return 301 https://", "proxy_pass http://${GATEWAY_UPSTREAM}",
                   "X-Forwarded-For $proxy_add_x_forwarded_for", "ssl_protocols TLSv1.2 TLSv1.3"):
        if needle not in template:
            problems.append(f"edge template: missing {needle}")
    address = edge.get("networks", {}).get("default", {}).get("ipv4_address")
    trusted = services.get("gateway", {}).get("environment", {}).get("TRUSTED_PROXIES")
    if not address or trusted != address:
        problems.append("compose: the gateway's TRUSTED_PROXIES is not the edge's fixed address")


def check_kubernetes():
    schemas = {}
    for kind, file in [("Deployment", "deployment-apps-v1"), ("Service", "service-v1"), ("ConfigMap", "configmap-v1"),
                       ("Secret", "secret-v1"), ("StatefulSet", "statefulset-apps-v1")]:
        schemas[kind] = json.loads((SCHEMAS / "k8s" / "v1.33.0-standalone-strict" / f"{file}.json").read_text())
    # Ingress is not among the shared schemas: the project keeps one made the same way (scripts/schemas).
    schemas["Ingress"] = json.loads((pathlib.Path(__file__).resolve().parent / "schemas" / "ingress-networking-v1.json").read_text())
    ingresses = []
    workloads = {}
    for path in sorted((ROOT / "Deploy" / "k8s").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            kind = document.get("kind")
            if kind not in schemas:
                problems.append(f"k8s {path.name}: no schema for kind {kind}")
                continue
            for error in jsonschema.Draft202012Validator(schemas[kind]).iter_errors(document):
                problems.append(f"k8s {path.name} {kind}: {error.json_path}: {error.message}")
            # The scripts Kubernetes mounts are the ones compose and make run-pg run, word for word.
            scripts = {"postgres-init": {"10-sagamart.sh": "init.sh", "15-replication.sh": "replication.sh"},
                       "postgres-standby": {"standby.sh": "standby.sh"}}
            if kind == "ConfigMap" and document["metadata"]["name"] in scripts:
                for key, source in scripts[document["metadata"]["name"]].items():
                    if document.get("data", {}).get(key) != (ROOT / "Deploy" / "postgres" / source).read_text():
                        problems.append(f"k8s: {key} of the {document['metadata']['name']} ConfigMap is not Deploy/postgres/{source}")
            if kind in ("Deployment", "StatefulSet"):
                workloads[document["metadata"]["name"]] = document
            if kind == "Ingress":
                ingresses.append(document)
    for name, port in SERVICES.items():
        workload = workloads.get(name)
        if workload is None:
            problems.append(f"k8s: no workload for {name}")
            continue
        container = workload["spec"]["template"]["spec"]["containers"][0]
        if container.get("readinessProbe", {}).get("httpGet") != {"path": "/health/ready", "port": port}:
            problems.append(f"k8s: {name} readiness probe is not /health/ready on {port}")
        if container.get("livenessProbe", {}).get("httpGet") != {"path": "/health/live", "port": port}:
            problems.append(f"k8s: {name} liveness probe is not /health/live on {port}")
        env = {e["name"]: e.get("value", "") for e in container.get("env", [])}
        mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
        volumes = {v["name"]: v.get("secret", {}).get("secretName") for v in workload["spec"]["template"]["spec"].get("volumes", [])}
        signing = [volume for volume, root in mounts.items() if env.get("SERVICE_SIGNING_KEY_FILE", "").startswith(root + "/")]
        if not signing or volumes.get(signing[0]) != f"sagamart-{name}-keys":
            problems.append(f"k8s: {name} does not sign with a key of its own (SERVICE_SIGNING_KEY_FILE from sagamart-{name}-keys)")
        if seals_data(name):
            mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
            volumes = {v["name"]: v.get("secret", {}).get("secretName") for v in workload["spec"]["template"]["spec"].get("volumes", [])}
            for variable in KEY_VARIABLES:
                path = env.get(variable + "_FILE", "")
                mounted = [volume for volume, root in mounts.items() if path.startswith(root + "/")]
                if not mounted or volumes.get(mounted[0]) != f"sagamart-{name}-keys":
                    problems.append(f"k8s: {name} does not read {variable} from a file of the sagamart-{name}-keys Secret")
        if "requests" not in container.get("resources", {}):
            problems.append(f"k8s: {name} has no resource requests")
    tls = [ingress for ingress in ingresses if any(entry.get("secretName") for entry in ingress["spec"].get("tls", []))]
    backends = [path.get("backend", {}).get("service", {}) for ingress in tls for rule in ingress["spec"].get("rules", [])
                for path in rule.get("http", {}).get("paths", [])]
    if not tls or {"name": "gateway", "port": {"number": 8080}} not in backends:
        problems.append("k8s: no Ingress with a TLS secret in front of the gateway")
    if workloads.get("saga", {}).get("spec", {}).get("replicas") != 2:
        problems.append("k8s: the saga Deployment must run 2 replicas")
    if "postgres" not in workloads:
        problems.append("k8s: no PostgreSQL StatefulSet")
    replica = workloads.get("postgres-replica")
    if replica is None:
        problems.append("k8s: no hot standby StatefulSet (postgres-replica)")
    else:
        container = replica["spec"]["template"]["spec"]["containers"][0]
        if "pg_is_in_recovery()" not in " ".join(container.get("readinessProbe", {}).get("exec", {}).get("command", [])):
            problems.append("k8s: postgres-replica's readiness probe does not know it is a standby")
        if "standby.sh" not in " ".join(container.get("command", [])):
            problems.append("k8s: postgres-replica does not start from the standby script")
    for name, variable in (("inventory", "DATABASE_READ_URL"), ("saga", "DATABASE_READ_URL"), ("order", "ORDER_SHARD_READ_URLS")):
        env = {e["name"]: e.get("value", "") for e in workloads.get(name, {}).get("spec", {}).get("template", {}).get("spec", {})
               .get("containers", [{}])[0].get("env", [])}
        primaries = env.get("ORDER_SHARDS" if name == "order" else "DATABASE_URL", "").split(",")
        if env.get(variable, "").split(",") != [url.replace("@postgres:5432/", "@postgres-replica:5432/") for url in primaries]:
            problems.append(f"k8s: {name} does not read from the standby's copy of each of its databases")


def check_dockerfile():
    """The image: a Swift 6 builder, a slim runtime with libpq5 and libsqlite3, a non-root user, and every
    service executable of Package.swift with its resource bundle."""
    text = (ROOT / "Deploy" / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)", text, re.M)
    if len(stages) < 2 or not re.match(r"swift:6", stages[0]):
        problems.append("Dockerfile: expected a multi-stage build starting from a Swift 6 image")
    runtime = text[text.rindex("\nFROM "):]
    for package in ("libpq5", "libsqlite3-0", "curl"):
        if package not in runtime:
            problems.append(f"Dockerfile: the runtime stage does not install {package}")
    user = re.findall(r"^USER\s+(\S+)", runtime, re.M)
    if not user or user[-1] in ("root", "0"):
        problems.append("Dockerfile: the runtime stage must run as a non-root user")
    package = (ROOT / "Package.swift").read_text()
    products = set(re.findall(r'\.executable\(name: "([a-z-]+)", targets: \["(?:Gateway|Inventory|Order|Payment|Shipping|Saga)"\]\)', package))
    for name in SERVICES:
        if name not in products:
            problems.append(f"Package.swift: no executable product {name}")
        if f"--product {name}" not in text or f'"$bin"/{name}' not in text:
            problems.append(f"Dockerfile: {name} is not built and copied into the image")
    for name in ("audit", "backup"):
        if f'.executable(name: "{name}"' not in package:
            problems.append(f"Package.swift: no executable product {name}")
        if f"--product {name}" not in text or f'"$bin"/{name}' not in text:
            problems.append(f"Dockerfile: the {name} command is not built and copied into the image")
    for folder in ("Shared", "Services", "Tools"):
        if f"COPY {folder} {folder}" not in text:
            problems.append(f"Dockerfile: {folder} is not copied into the build")
    # glibc's allocator tuning: in the image for every service, and the same in the local launcher (the
    # repository's own, beside this script), so make run and make bench-checkout measure what ships.
    tunables = re.findall(r"^ENV\s.*\bGLIBC_TUNABLES=(\S+)", runtime, re.M)
    if not tunables or "glibc.malloc.tcache_count=" not in tunables[-1]:
        problems.append("Dockerfile: the runtime stage does not set GLIBC_TUNABLES (glibc.malloc.tcache_count)")
    else:
        launcher = (pathlib.Path(__file__).resolve().parent / "run.sh").read_text()
        if f"GLIBC_TUNABLES=${{GLIBC_TUNABLES:-{tunables[-1]}}}" not in launcher:
            problems.append(f"scripts/run.sh: does not default GLIBC_TUNABLES to the image's {tunables[-1]}")
    # The release build: the Swift runtime in each executable, and the benchmarks' release builds
    # (scripts/build-release.sh, the repository's own, beside this script) made with the image's flags, so
    # make bench-checkout's idle and peak memory are those of what ships.
    build = re.search(r"RUN swift build ((?:-\S+(?: [a-z]\S*)? +)*?)(?:\\\s*)*--product", text)
    flags = build.group(1).split() if build else []
    if "--static-swift-stdlib" not in flags:
        problems.append("Dockerfile: the executables are not built with --static-swift-stdlib")
    else:
        script = (pathlib.Path(__file__).resolve().parent / "build-release.sh").read_text()
        release = re.search(r"^RELEASE_FLAGS=\((.*)\)$", script, re.M)
        if not release or release.group(1).split() != flags:
            problems.append(f"scripts/build-release.sh: does not build with the image's flags ({' '.join(flags)})")
    # The linker's layout of the shipped executables' code: the file Package.swift names must be in the build.
    if "symbol-ordering-file=" in package:
        layout = ROOT / "Deploy" / "startup.order"
        if not layout.exists() or len(layout.read_text().split()) < 1000:
            problems.append("Deploy/startup.order is missing or nearly empty: make startup-order writes it")
        if "COPY Deploy/startup.order Deploy/startup.order" not in text:
            problems.append("Dockerfile: Deploy/startup.order (the code layout Package.swift links with) is not copied into the build")
        # Without a section per function the linker can only move whole files, and the layout does little.
        if not {"-function-sections", "-ffunction-sections"} <= set(flags):
            problems.append("Dockerfile: the executables are not compiled with a section per function (-function-sections)")
    # Debug sections are 40 % of an executable and never mapped: left out of the image, the symbol table kept.
    if not re.search(r"strip --strip-debug /out/\*", text):
        problems.append("Dockerfile: the executables are copied with their debug sections (strip --strip-debug)")
    # Resources copied by SwiftPM (.copy, .process) live in bundles beside the executable, which the image
    # would have to carry; embedded ones (.embedInCode) are in the executable.
    if re.search(r"\.(copy|process)\(", package) and "*.resources" not in text:
        problems.append("Dockerfile: the resource bundles (migrations) are not copied into the image")


check_compose()
check_kubernetes()
check_dockerfile()
for problem in problems:
    print(problem)
print(f"deploy check: {len(problems)} problems")
sys.exit(1 if problems else 0)
