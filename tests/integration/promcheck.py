#!/usr/bin/env python3
"""promcheck.py FILE - a strict reading of a Prometheus text exposition
(format 0.0.4), beyond what promtool's lint says: every sample belongs to
a family declared by one # TYPE line before it; a family's samples are
together; no series twice; names and label names well formed; values
numbers; counters end in _total; a histogram's series each have
cumulative buckets ending in le="+Inf", equal to its _count, and a _sum.
Prints each problem and exits 1 when there is any."""
import math
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_labels(text, where, problems):
    labels, pos = {}, 0
    while pos < len(text):
        mt = LABEL.match(text, pos)
        if not mt:
            problems.append(f"{where}: bad label text at {text[pos:]!r}")
            return None
        if mt.group(1) in labels:
            problems.append(f"{where}: label {mt.group(1)} twice")
        labels[mt.group(1)] = mt.group(2)
        pos = mt.end()
        if pos < len(text):
            if text[pos] != ",":
                problems.append(f"{where}: expected ',' at {text[pos:]!r}")
                return None
            pos += 1
    return labels


def family_of(name, types):
    if name in types:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and types.get(base) in ("histogram", "summary"):
            return base
    return None


def main(path):
    problems, types, helps, seen, done = [], {}, set(), set(), set()
    hist = {}  # (family, labels without le) -> {"b": [(le, v)], "sum", "count"}
    current = None
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for n, line in enumerate(lines, 1):
        where = f"line {n}"
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            if name in helps:
                problems.append(f"{where}: HELP for {name} twice")
            helps.add(name)
            continue
        if line.startswith("# TYPE "):
            parts = line.split(" ")
            if len(parts) != 4 or parts[3] not in TYPES or not NAME.match(parts[2]):
                problems.append(f"{where}: bad TYPE line {line!r}")
                continue
            if parts[2] in types:
                problems.append(f"{where}: TYPE for {parts[2]} twice")
            if parts[2] in done or parts[2] in seen:
                problems.append(f"{where}: TYPE for {parts[2]} after its samples")
            types[parts[2]] = parts[3]
            continue
        if line.startswith("#") or not line.strip():
            problems.append(f"{where}: unexpected line {line!r}")
            continue
        mt = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$", line)
        if not mt:
            problems.append(f"{where}: not a sample: {line!r}")
            continue
        name, ltext, value = mt.group(1), mt.group(2) or "", mt.group(3)
        labels = parse_labels(ltext, where, problems)
        if labels is None:
            continue
        try:
            v = float(value)
        except ValueError:
            problems.append(f"{where}: value {value!r} is not a number")
            continue
        fam = family_of(name, types)
        if fam is None:
            problems.append(f"{where}: {name} has no TYPE line before it")
            continue
        if fam != current:
            if fam in done:
                problems.append(f"{where}: samples of {fam} are not together")
            if current:
                done.add(current)
            current = fam
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            problems.append(f"{where}: series {name}{{{ltext}}} twice")
        seen.add(key)
        kind = types[fam]
        if kind == "counter" and not fam.endswith("_total"):
            problems.append(f"{where}: counter {fam} does not end in _total")
        if kind == "counter" and (v < 0 or math.isnan(v)):
            problems.append(f"{where}: counter {name} is {value}")
        if kind == "histogram":
            if name == fam:
                problems.append(f"{where}: histogram sample without a suffix")
                continue
            base = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
            h = hist.setdefault((fam, base), {"b": [], "sum": None, "count": None})
            if name.endswith("_bucket"):
                if "le" not in labels:
                    problems.append(f"{where}: bucket without le")
                    continue
                h["b"].append((float(labels["le"]), v))
            elif name.endswith("_sum"):
                h["sum"] = v
            else:
                h["count"] = v
    for (fam, base), h in hist.items():
        what = f"{fam}{dict(base)}"
        les = [le for le, _ in h["b"]]
        if les != sorted(les) or not les or les[-1] != math.inf:
            problems.append(f"{what}: buckets not ascending to +Inf: {les}")
        counts = [c for _, c in h["b"]]
        if counts != sorted(counts):
            problems.append(f"{what}: buckets not cumulative: {counts}")
        if h["count"] is None or h["sum"] is None:
            problems.append(f"{what}: _count or _sum missing")
        elif counts and counts[-1] != h["count"]:
            problems.append(f"{what}: +Inf {counts[-1]} != _count {h['count']}")
    for p in problems:
        print(f"promcheck: {path}: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
