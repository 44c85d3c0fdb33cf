#!/usr/bin/env python3
"""Writes the OpenAPI documents the services serve at /v1/openapi.json from their sources, after validating
them (openapi-spec-validator): the gateway's public API (Deploy/openapi/gateway.yaml) and each internal API
(Deploy/openapi/internal/<service>.yaml, bundled with internal/common.yaml: the shared operations, the
optional ones the service names in x-include, and the shared components). --check exits 1 when a copy is not
what its source gives."""
import copy
import json
import pathlib
import sys

import yaml
from openapi_spec_validator import validate

root = pathlib.Path(__file__).resolve().parent.parent
openapi = root / "Deploy/openapi"
INTERNAL = {
    "inventory": "Services/Inventory/Resources",
    "order": "Services/Order/App/Resources",
    "payment": "Services/Payment/Resources",
    "shipping": "Services/Shipping/Resources",
    "saga": "Services/Saga/App/Resources",
}


def bundled(service):
    common = yaml.safe_load((openapi / "internal/common.yaml").read_text())
    document = yaml.safe_load((openapi / f"internal/{service}.yaml").read_text())
    paths = copy.deepcopy(common["paths"])
    for path in document.pop("x-include", []):
        paths[path] = copy.deepcopy(common["x-optional-paths"][path])
    for path, item in document.get("paths", {}).items():
        if path in paths:
            raise SystemExit(f"{service}.yaml: {path} is also in common.yaml")
        paths[path] = item
    components = copy.deepcopy(common["components"])
    for section, entries in document.get("components", {}).items():
        components.setdefault(section, {}).update(entries)
    document["paths"] = dict(sorted(paths.items()))
    document["components"] = components
    return document


documents = {"Services/Gateway/Resources": yaml.safe_load((openapi / "gateway.yaml").read_text())}
for service, folder in INTERNAL.items():
    documents[folder] = bundled(service)

stale = []
for folder, document in documents.items():
    validate(document)
    copy_path = root / folder / "openapi.json"
    text = json.dumps(document, indent=1, ensure_ascii=False) + "\n"
    if "--check" in sys.argv:
        if not copy_path.exists() or copy_path.read_text() != text:
            stale.append(str(copy_path.relative_to(root)))
    else:
        copy_path.parent.mkdir(parents=True, exist_ok=True)
        copy_path.write_text(text)
        print(f"wrote {copy_path.relative_to(root)}")
if "--check" in sys.argv:
    if stale:
        print(f"not what Deploy/openapi gives: {', '.join(stale)}: run scripts/openapi.py", file=sys.stderr)
        sys.exit(1)
    print(f"the {len(documents)} OpenAPI documents are valid and the services' copies are current")
