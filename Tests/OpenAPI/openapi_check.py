#!/usr/bin/env python3
"""Checks of the public API's OpenAPI document (Deploy/openapi/gateway.yaml) against the code.

  values FILE [DOCUMENT]
                   FILE holds {"values": {"Schema": [encoded value, ...]}, "enums": {"Schema": [case, ...]}}
                   written by OpenAPIContractTests from the Swift contract types: every value must validate
                   against components/schemas/Schema, and every enum must list exactly the Swift cases.
                   "invalid" holds values that must NOT validate (so the check is seen to fail).
                   DOCUMENT: another document (a service's bundled JSON copy) instead of the gateway's.
  links URL KEY SKU
                   The document's links, followed on a live gateway: the checkout example (with SKU) is
                   sent, each link of its 201 answer is resolved and called, and every answer is validated
                   against the schema of its documented response.
Exit status 0 only when every check holds; each failure is printed.
"""
import json
import pathlib
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCUMENT = yaml.safe_load((ROOT / "Deploy/openapi/gateway.yaml").read_text())
failures = []


def validator(schema):
    # Schemas refer to "#/components/..."; resolve them inside the whole document.
    registry = Registry().with_resource("urn:gateway", Resource.opaque(DOCUMENT))
    fixed = json.loads(json.dumps(schema).replace('"#/components/', '"urn:gateway#/components/'))
    return Draft202012Validator(fixed, registry=registry)


def component(name):
    return validator({"$ref": "#/components/schemas/" + name})


def fail(message):
    failures.append(message)
    print("FAIL:", message)


def check_values(path):
    data = json.loads(pathlib.Path(path).read_text())
    schemas = DOCUMENT["components"]["schemas"]
    for name, values in data["values"].items():
        if name not in schemas:
            fail(f"no schema {name} in the document")
            continue
        for value in values:
            errors = sorted(component(name).iter_errors(value), key=str)
            if errors:
                fail(f"{name}: {json.dumps(value)[:300]} does not match: {errors[0].message} at {list(errors[0].absolute_path)}")
    for name, values in data.get("invalid", {}).items():
        for value in values:
            if not list(component(name).iter_errors(value)):
                fail(f"{name}: {json.dumps(value)[:300]} should not match but does")
    for name, cases in data["enums"].items():
        if name not in schemas and data.get("enumsIfPresent"):
            continue
        documented = schemas.get(name, {}).get("enum")
        if documented != cases:
            fail(f"{name}: the document lists {documented}, the Swift type {cases}")
    print(f"{sum(len(v) for v in data['values'].values())} values of {len(data['values'])} schemas, {len(data['enums'])} enums checked")


def operation_by_id(operation_id):
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and operation.get("operationId") == operation_id:
                return path, method.upper(), operation
    raise KeyError(operation_id)


def resolve(node):
    while isinstance(node, dict) and "$ref" in node:
        target = DOCUMENT
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def call(base, key, method, path, body=None, headers=None):
    request = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode())
    request.add_header("Authorization", "Bearer " + key)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers.get("Content-Type", ""), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), json.loads(error.read() or b"null")


def validate_answer(operation, status, content_type, body, label):
    responses = operation["responses"]
    response = resolve(responses.get(str(status)) or responses.get("default"))
    if response is None:
        fail(f"{label}: status {status} is not documented")
        return
    media = content_type.split(";")[0].strip()
    content = response.get("content", {})
    if media not in content:
        fail(f"{label}: {media} is not documented for {status}")
        return
    errors = list(validator(content[media]["schema"]).iter_errors(body))
    if errors:
        fail(f"{label}: the {status} answer does not match its schema: {errors[0].message}")


def check_links(base, key, sku):
    path, method, checkout = operation_by_id("checkout")
    example = json.loads(json.dumps(checkout["requestBody"]["content"]["application/json"]["example"]))
    example["items"][0]["sku"] = sku
    status, content_type, body = call(base, key, method, path, example, {"Idempotency-Key": str(uuid.uuid4())})
    validate_answer(checkout, status, content_type, body, "POST /v1/checkout")
    if status != 201:
        fail(f"the checkout example was not approved: {status} {body}")
        return
    links = checkout["responses"]["201"]["links"]
    for name, link in links.items():
        target_path, target_method, target = operation_by_id(link["operationId"])
        concrete = target_path
        for parameter, expression in link["parameters"].items():
            pointer = expression.split("#", 1)[1]
            value = body
            for part in pointer.strip("/").split("/"):
                value = value[part]
            concrete = concrete.replace("{" + parameter + "}", urllib.parse.quote(str(value), safe=""))
        answer = call(base, key, target_method, concrete)
        validate_answer(target, *answer, f"link {name}: {target_method} {concrete}")
        if not 200 <= answer[0] < 300:
            fail(f"link {name}: {target_method} {concrete} answered {answer[0]} {answer[2]}")
        else:
            print(f"link {name}: {target_method} {concrete} -> {answer[0]}")


if __name__ == "__main__":
    if len(sys.argv) in (3, 4) and sys.argv[1] == "values":
        if len(sys.argv) == 4:
            DOCUMENT = json.loads(pathlib.Path(sys.argv[3]).read_text())
        check_values(sys.argv[2])
    elif len(sys.argv) == 5 and sys.argv[1] == "links":
        check_links(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    print(f"{len(failures)} failures")
    sys.exit(1 if failures else 0)
