"""Calls a policy's waPC `validate` on the bench fixtures in wasmtime, or groups a perf report
of such a run by what the guest's functions do. Used by bench/guest-profile.

    guest_calls.py run WASM CALLS      CALLS evaluations of each fixture, a fresh instance each
                                       time as `pullthrough serve` makes them; wasmtime writes
                                       /tmp/perf-PID.map so perf can name the guest's functions
    guest_calls.py report              reads `perf report --sort dso,symbol -n` on stdin
    guest_calls.py fuel WASM...        the fuel (about one unit per wasm instruction) one
                                       evaluation of each fixture burns, start-up included, per
                                       module: a count that does not move with the machine's speed
    guest_calls.py time A B CALLS      the time in the guest's entry points (`wapc_init` and
                                       `__guest_call`, Python's side of the waPC imports included)
                                       of two modules called in turn, CALLS times per fixture:
                                       medians, so a drift of the machine falls on both alike

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


FUEL = 10**12


def payloads() -> list[bytes]:
    """The fixtures' `validate` payloads, compact, as serve splices the API server's text."""
    out = []
    for name in FIXTURES:
        with open(f"fixtures/admission/{name}.json", encoding="utf-8") as f:
            request = json.load(f)["request"]
        out.append(json.dumps({"request": request, "settings": SETTINGS}, separators=(",", ":")).encode())
    return out


def evaluator(engine, wasm: str, fuel: bool = False):
    """A function that evaluates one payload in a fresh instance of WASM and returns the fuel
    burned (0 without `fuel`) and the nanoseconds spent in the guest's own entry points
    (`wapc_init` and `__guest_call`, not the instantiation around them)."""
    from time import perf_counter_ns

    from wasmtime import FuncType, Linker, Module, Store, ValType, WasiConfig

    module = Module.from_file(engine, wasm)
    i32 = ValType.i32()

    def evaluate(payload: bytes) -> tuple[int, int]:
        store = Store(engine)
        if fuel:
            store.set_fuel(FUEL)
        store.set_wasi(WasiConfig())
        linker = Linker(engine)
        linker.define_wasi()
        answer: dict = {}

        def memory():
            return instance.exports(store)["memory"]

        def guest_request(operation_at: int, payload_at: int) -> None:
            memory().write(store, b"validate", operation_at)
            memory().write(store, payload, payload_at)

        def guest_error(at: int, length: int) -> None:
            answer["error"] = bytes(memory().read(store, at, at + length))

        imports = {
            "__guest_request": ([i32, i32], [], guest_request),
            # The answer is not read: each caller wants the guest's work, not its output.
            "__guest_response": ([i32, i32], [], lambda *_: None),
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
        entries = [exports[start] for start in ("_start", "wapc_init") if start in exports]
        guest_call = exports["__guest_call"]
        began = perf_counter_ns()
        for entry in entries:
            entry(store)
        ok = guest_call(store, len(b"validate"), len(payload))
        took = perf_counter_ns() - began
        if ok != 1:
            sys.exit(f"guest_calls: validate failed: {answer.get('error', b'')!r}")
        return (FUEL - store.get_fuel() if fuel else 0), took

    return evaluate


def run(wasm: str, calls: int) -> None:
    from wasmtime import Config, Engine

    config = Config()
    config.profiler = "perfmap"
    evaluate = evaluator(Engine(config), wasm)
    for payload in payloads():
        for _ in range(calls):
            evaluate(payload)


def fuel(wasms: list[str]) -> None:
    from wasmtime import Config, Engine

    config = Config()
    config.consume_fuel = True
    engine = Engine(config)
    print(f"{'module':40} " + " ".join(f"{name:>27}" for name in FIXTURES) + f" {'in all':>10}")
    for wasm in wasms:
        evaluate = evaluator(engine, wasm, fuel=True)
        burned = [evaluate(payload)[0] for payload in payloads()]
        print(f"{wasm:40} " + " ".join(f"{used:27,}" for used in burned) + f" {sum(burned):10,}")


def time_pair(a: str, b: str, calls: int) -> None:
    from statistics import median

    from wasmtime import Config, Engine

    engine = Engine(Config())
    sides = [evaluator(engine, a), evaluator(engine, b)]
    print(f"{'fixture':27} {'A µs':>8} {'B µs':>8} {'B/A':>6}  (medians of {calls} calls each, A and B in turn)")
    for name, payload in zip(FIXTURES, payloads()):
        for evaluate in sides:  # warm both
            evaluate(payload)
        times: list[list[int]] = [[], []]
        for _ in range(calls):
            for side, evaluate in enumerate(sides):
                times[side].append(evaluate(payload)[1])
        a_us, b_us = median(times[0]) / 1000, median(times[1]) / 1000
        print(f"{name:27} {a_us:8.1f} {b_us:8.1f} {b_us / a_us:6.3f}")


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
    elif len(sys.argv) >= 3 and sys.argv[1] == "fuel":
        fuel(sys.argv[2:])
    elif len(sys.argv) == 5 and sys.argv[1] == "time":
        time_pair(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(__doc__)
