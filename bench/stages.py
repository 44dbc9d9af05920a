"""Puts each line of `perf report --sort dso,symbol` into one stage of an admission.

Reads the report on stdin and the server's CPU µs per admission as its argument; prints one row
per stage with its share of the samples and its µs per admission, then the ten hottest
functions left in "other", so a rule that is missing shows. The first rule that matches wins:
order matters (a `serde_json` frame inside `kube` is JSON, not Kubernetes).
"""

import re
import sys

# (stage, pattern matched against "dso symbol"), in order.
RULES = [
    ("guest (wasm code)", r"\[JIT\]|jitted|memfd:|wasm-function|\[unknown\]"),
    ("guest (wasmtime runtime, instantiation, wasi)", r"wasmtime|cranelift|wasi|cap_std|wiggle|wapc"),
    ("TLS (rustls, ring, aws-lc)", r"rustls|ring_core|\bring\b|aws_lc|gcm|aes|chacha|poly1305|x25519|sha256|sha512"),
    ("JSON (serde_json, request reader, patch trees)",
     r"serde|\bryu\b|itoa|admission::members|admission::request|policies::diff"),
    ("JSON objects (BTreeMap, serde_json's Map)", r"btree"),
    ("patch (json-patch, base64)", r"json_patch|jsonptr|base64"),
    ("metrics (prometheus-client)", r"prometheus"),
    ("logging (tracing)", r"tracing"),
    ("HTTP (hyper, h2, httparse, axum, tower)", r"hyper|\bh2\b|h2::|httparse|axum|tower|http_body|::http::"),
    ("async runtime (tokio)", r"tokio|mio|futures"),
    ("allocator (jemalloc)", r"_rjem|jemalloc|je_|\bmalloc|\bfree\b|realloc|calloc|rallocx|mallocx|sdallocx|tcache|arena_|extent_|emap_"),
    ("our code (pullthrough)", r"pullthrough"),
    ("libc (memcpy, memset, ...)", r"libc[.-]|ld-linux"),
    ("kernel (network, syscalls, scheduling)", r"\[kernel|kallsyms|vmlinux"),
]

# The DSO may hold spaces: perf names the guest's compiled code "[JIT] tid 1234".
LINE = re.compile(r"^\s*([\d.]+)%\s+(.+?)\s+\[[.kgu]\]\s+(.*)$")


def tally(rows, rules):
    """Adds each (weight, text) row to the first of `rules` whose pattern matches its text, or
    to "other"; returns the sums by name and the rows that went to "other"."""
    sums = {name: 0 for name, _ in rules}
    sums["other"] = 0
    others = []
    for weight, text in rows:
        for name, pattern in rules:
            if re.search(pattern, text):
                sums[name] += weight
                break
        else:
            sums["other"] += weight
            others.append((weight, text))
    return sums, others


def main() -> None:
    cpu_us = float(sys.argv[1])
    rows = []
    for line in sys.stdin:
        m = LINE.match(line)
        if m:
            rows.append((float(m.group(1)), f"{m.group(2)} {m.group(3).strip()}"))
    total = sum(share for share, _ in rows)
    stages, others = tally(rows, RULES)
    if total == 0:
        sys.exit("stages: no samples in the report (is perf allowed to read this process?)")
    print(f"{'stage':50} {'share':>7} {'µs/admission':>13}")
    for name, share in sorted(stages.items(), key=lambda item: -item[1]):
        part = share / total
        print(f"{name:50} {part:7.1%} {part * cpu_us:13.1f}")
    others.sort(reverse=True)
    if others:
        print("\nhottest functions in other:")
        for share, text in others[:10]:
            print(f"  {share / total:6.2%} {text[:110]}")


if __name__ == "__main__":
    main()
