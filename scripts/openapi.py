#!/usr/bin/env python3
"""Writes the OpenAPI document the gateway serves (Services/Gateway/Resources/openapi.json) from its source,
Deploy/openapi/gateway.yaml, after validating it. --check exits 1 when the copy is not the source's."""
import json
import pathlib
import sys

import yaml
from openapi_spec_validator import validate

root = pathlib.Path(__file__).resolve().parent.parent
source = root / "Deploy/openapi/gateway.yaml"
copy = root / "Services/Gateway/Resources/openapi.json"

document = yaml.safe_load(source.read_text())
validate(document)
text = json.dumps(document, indent=1, ensure_ascii=False) + "\n"
if "--check" in sys.argv:
    if not copy.exists() or copy.read_text() != text:
        print(f"{copy.relative_to(root)} is not {source.relative_to(root)}: run scripts/openapi.py", file=sys.stderr)
        sys.exit(1)
    print("the OpenAPI document is valid and the gateway's copy is current")
else:
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_text(text)
    print(f"wrote {copy.relative_to(root)}")
