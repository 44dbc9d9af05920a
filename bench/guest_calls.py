"""Calls a policy's waPC `validate` on the bench fixtures in wasmtime, or groups a perf report
of such a run by what the guest's functions do. Used by bench/guest-profile.

    guest_calls.py run WASM CALLS      CALLS evaluations of each fixture, a fresh instance each
                                       time as `pullthrough serve` makes them; wasmtime writes
                                       /tmp/perf-PID.map so perf can name the guest's functions
    guest_calls.py report              reads `perf report --sort dso,symbol -n` on stdin

The host side of waPC (the module's `wapc` imports) is answered in Python, which perf counts
apart from the guest's code ([JIT] samples); only those are grouped.
"""

import json
import re
import sys

# bench/ is this script's directory, so on its path.
from stages import tally

FIXTURES = ["deployment", "pod-initcontainers-digests", "cronjob"]
SETTINGS = {"mirror": "registry-mirror.example.com"}

# (group, pattern over the function's name), first match wins.
GROUPS = [
    ("JSON (serde_json, its trees and scans, UTF-8 checks)",
     r"serde|btree|from_utf8|ryu|itoa|skeleton|splice|memchr"),
    ("allocator (dlmalloc)", r"dlmalloc|dlfree|__rdl_|__rust_(alloc|dealloc|realloc|no_alloc)|malloc|\bfree\b|realloc"),
    ("memcpy, memcmp, memory.copy", r"memcpy|memmove|memset|memcmp|memory_copy|memory_fill"),
    ("the rewrite (references, plan, settings)",
     r"reference|rewrite|plan|mutate|sites|warning|originals|Searcher|namespaces|settings|glob"),
    ("waPC and start-up (registration, hashing, formatting)",
     r"wapc|__guest_call|once_cell|Hasher|hash|getrandom|wasi|_start|fmt"),
]


def run(wasm: str, calls: int) -> None:
    from wasmtime import Config, Engine, FuncType, Linker, Module, Store, ValType, WasiConfig

    config = Config()
    config.profiler = "perfmap"
    engine = Engine(config)
    module = Module.from_file(engine, wasm)
    payloads = []
    for name in FIXTURES:
        with open(f"fixtures/admission/{name}.json", encoding="utf-8") as f:
            request = json.load(f)["request"]
        # Compact, as serve splices the API server's text into the payload.
        payload = {"request": request, "settings": SETTINGS}
        payloads.append(json.dumps(payload, separators=(",", ":")).encode())
    i32 = ValType.i32()

    def evaluate(payload: bytes) -> bytes:
        store = Store(engine)
        store.set_wasi(WasiConfig())
        linker = Linker(engine)
        linker.define_wasi()
        answer: dict = {}

        def memory():
            return instance.exports(store)["memory"]

        def guest_request(operation_at: int, payload_at: int) -> None:
            memory().write(store, b"validate", operation_at)
            memory().write(store, payload, payload_at)

        def guest_response(at: int, length: int) -> None:
            answer["ok"] = bytes(memory().read(store, at, at + length))

        def guest_error(at: int, length: int) -> None:
            answer["error"] = bytes(memory().read(store, at, at + length))

        imports = {
            "__guest_request": ([i32, i32], [], guest_request),
            "__guest_response": ([i32, i32], [], guest_response),
            "__guest_error": ([i32, i32], [], guest_error),
            "__host_call": ([i32] * 8, [i32], lambda *_: 0),
            "__host_response": ([i32], [], lambda *_: None),
            "__host_response_len": ([], [i32], lambda: 0),
            "__host_error": ([i32], [], lambda *_: None),
            "__host_error_len": ([], [i32], lambda: 0),
            "__console_log": ([i32, i32], [], lambda *_: None),
        }
        for name, (params, results, function) in imports.items():
            linker.define_func("wapc", name, FuncType(params, results), function)
        instance = linker.instantiate(store, module)
        exports = instance.exports(store)
        for start in ("_start", "wapc_init"):
            if start in exports:
                exports[start](store)
        if exports["__guest_call"](store, len(b"validate"), len(payload)) != 1:
            sys.exit(f"guest_calls: validate failed: {answer.get('error', b'')!r}")
        return answer["ok"]

    for payload in payloads:
        for _ in range(calls):
            evaluate(payload)


def report() -> None:
    line_re = re.compile(r"^\s*[\d.]+%\s+(\d+)\s+\[JIT\][^\[]*\[[.kgu]\]\s+(.*)$")
    rows = []
    for line in sys.stdin:
        m = line_re.match(line)
        if m:
            rows.append((int(m.group(1)), m.group(2).strip()))
    total = sum(samples for samples, _ in rows)
    groups, _ = tally(rows, GROUPS)
    if total == 0:
        sys.exit("guest_calls: no samples in the guest's code (was /tmp/perf-PID.map written?)")
    print(f"{'guest code, by what it does':55} {'samples':>8} {'share':>7}")
    for name, samples in sorted(groups.items(), key=lambda item: -item[1]):
        print(f"{name:55} {samples:8} {samples / total:7.1%}")
    print(f"{'in all':55} {total:8}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "run":
        run(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 2 and sys.argv[1] == "report":
        report()
    else:
        sys.exit(__doc__)
