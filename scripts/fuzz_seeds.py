#!/usr/bin/env python3
"""Writes the fuzzers' seed corpus into DIR/<target>/, taken from the tests' own cases: the request and
response strings of Tests/HTTPTests (whole and, for the request target, with a split byte in front), the
bodies after a chunked head, and the JSON bodies the end-to-end fixtures send."""
import hashlib
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
out = pathlib.Path(sys.argv[1])


def swift_strings(path):
    text = (ROOT / path).read_text()
    for match in re.finditer(r'"((?:[^"\\\n]|\\.)*)"', text):
        raw = match.group(1)
        value = re.sub(r"\\u\{([0-9A-Fa-f]+)\}", lambda m: chr(int(m.group(1), 16)), raw)
        value = value.replace("\\r", "\r").replace("\\n", "\n").replace("\\t", "\t").replace('\\"', '"').replace("\\\\", "\\")
        yield value


def write(target, data):
    folder = out / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


requests = [s for s in swift_strings("Tests/HTTPTests/HTTPParserTests.swift") if re.match(r"^(\r\n)?[A-Z(]+ \S* HTTP/", s)]
requests += [s for s in swift_strings("Tests/HTTPTests/ServerTests.swift") if re.match(r"^[A-Z]+ \S* HTTP/", s)]
for index, request in enumerate(requests):
    data = request.encode("utf-8", "surrogateescape")
    write("request", bytes([index % 256]) + data)
    if "chunked\r\n\r\n" in request:
        write("chunked", request.split("chunked\r\n\r\n", 1)[1].encode())
responses = [s for s in list(swift_strings("Tests/HTTPTests/HTTPParserTests.swift")) + list(swift_strings("Tests/HTTPTests/ClientTests.swift"))
             if s.startswith("HTTP/")]
for response in responses:
    write("response", response.encode())
for body in ("5\r\nhello\r\n0\r\n\r\n", "3;ext=1\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n", "fffffff\r\n", "0\r\n\r\n"):
    write("chunked", body.encode())
fixtures = (ROOT / "Tests/EndToEndTests/Fixtures.swift").read_text()
body = re.search(r'"""\n(\s*\{"items".*?)\n\s*"""', fixtures, re.S).group(1)
body = body.replace('\\(sku)', 'MUG-001').replace('\\(quantity)', '2').replace('\\(card)', '4242424242424242').replace('\\(country)', 'DE')
write("json", body.encode())
for extra in ('{"sku":"MUG-001","name":"Mug","priceCents":1200,"currency":"EUR","stock":100}', '{"available":3}',
              '{"items":[],"payment":{},"shipping":null}', '[]', '{"items":[{"sku":"\\u0000","quantity":-1}]}'):
    write("json", extra.encode())
# The JSON scanner: a feed page and the shapes it steps over.
write("scanner", b'{"items":[{"seq":7,"id":"e7","type":"order.approved","version":2,"aggregateId":"o1","occurredAt":"2026-11-30T21:00:00.123Z","traceparent":null,"data":{"a":[1,-2.5e3,true,false,null,"\\u00e9\\ud83d\\ude00"]}}],"next":"7","head":9,"afterId":null}')
counts = {target.name: len(list(target.iterdir())) for target in out.iterdir()}
print("seeds:", ", ".join(f"{name} {count}" for name, count in sorted(counts.items())))

