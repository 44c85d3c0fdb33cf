#!/usr/bin/env python3
"""The symbol ordering file of the shipped executables (Deploy/startup.order), from traces of the code that ran.

Usage: startup_order.py TRACE_DIR OUT [PREVIOUS]

TRACE_DIR holds the `<pid>.pages` files scripts/pagetrace.c wrote for the six services. Every function
(from `nm -S` of the traced executable) that holds an address the trace saw run is listed once, the earliest
first by when it was first seen in any service: start-up code first, then what the first requests ran. The
trace misses a call that stays within one page; PREVIOUS, the list the traced build was laid out by, keeps
what earlier passes saw, each function after the one it followed there. lld places the listed
functions at the front of `.text` in that order, so the code a service runs sits in a few megabytes instead
of being spread over all fourteen, and the kernel maps fewer pages of it (Package.swift, `shippedLinking`).
"""
import bisect
import glob
import os
import subprocess
import sys

SERVICES = {"gateway", "inventory", "order", "payment", "shipping", "saga"}


def code_delta(executable):
    """Virtual address minus file offset of the executable's code segment."""
    headers = subprocess.run(["readelf", "-lW", executable], capture_output=True, text=True, check=True).stdout
    for line in headers.splitlines():
        fields = line.split()
        if fields and fields[0] == "LOAD" and "E" in fields[6:-1]:
            return int(fields[2], 16) - int(fields[1], 16)
    raise SystemExit(f"{executable}: no executable segment")


def main():
    trace_dir, out = sys.argv[1], sys.argv[2]
    first = {}
    for path in sorted(glob.glob(os.path.join(trace_dir, "*.pages"))):
        lines = open(path).read().splitlines()
        executable = lines[0].split(" ", 1)[1]
        if os.path.basename(executable) not in SERVICES:
            continue
        delta = code_delta(executable)
        runs = []
        for line in lines[1:]:
            offset, nanoseconds = line.split()
            runs.append((int(offset, 16) + delta, int(nanoseconds)))
        symbols = subprocess.run(["nm", "-S", "--defined-only", executable], capture_output=True, text=True, check=True).stdout
        functions = []
        for line in symbols.splitlines():
            fields = line.split(" ", 3)
            if len(fields) == 4 and fields[2] in "tTwW" and int(fields[1], 16) > 0:
                functions.append((int(fields[0], 16), int(fields[1], 16), fields[3]))
        functions.sort()
        starts = [function[0] for function in functions]
        found = set()
        for address, nanoseconds in runs:
            # The function holding the address, under each of its names (aliases share a start).
            index = bisect.bisect_right(starts, address) - 1
            holder = starts[index] if index >= 0 else None
            while index >= 0 and starts[index] == holder:
                start, size, name = functions[index]
                if address < start + size:
                    found.add(name)
                    first[name] = min(first.get(name, nanoseconds), nanoseconds)
                index -= 1
        size = sum(function[1] for function in functions if function[2] in found)
        print(f"{os.path.basename(executable)}: {len(runs)} addresses ran, in {len(found)} functions ({size // 1024} kB)", file=sys.stderr)
    if not first:
        raise SystemExit("no service traced")
    order = sorted(first, key=lambda name: (first[name], name))
    if len(sys.argv) > 3 and os.path.exists(sys.argv[3]):
        # Merged: a function of the earlier list this trace did not see goes right after its predecessor there.
        position = {name: index for index, name in enumerate(order)}
        after = {}
        previous_seen = None
        for name in open(sys.argv[3]).read().split():
            if name in position:
                previous_seen = name
            else:
                after.setdefault(previous_seen, []).append(name)
        merged = after.get(None, [])
        for name in order:
            merged.append(name)
            merged.extend(after.get(name, []))
        order = merged
    with open(out, "w") as file:
        for name in order:
            file.write(name + "\n")
    print(f"{out}: {len(order)} functions ({len(first)} seen in this trace)", file=sys.stderr)


if __name__ == "__main__":
    main()
