"""Each function's own instructions per admission from one callgrind dump (bench/instructions).

    python3 bench/callgrind_self.py DUMP REQUESTS [TOP]

callgrind_annotate 3.19 charges a whole dump taken by `callgrind_control -d` to `clone` (every
thread's stack starts there), so this reads the file format itself: `fn=` names the function that
the cost lines after it belong to, and the line after a `calls=` line is the inclusive cost of
that call, not the caller's own. Names are compressed: `(N) name` the first time, `(N)` after.
Functions wasmtime compiled (the guest) have no symbol and show as their address.
"""

import collections
import re
import sys

NAMED = re.compile(r"\((\d+)\)(?: (.*))?")


def own_costs(path):
    names = {}
    costs = collections.Counter()
    function = None
    after_call = False

    def resolve(kind, text):
        match = NAMED.match(text)
        if not match:
            return text
        key = (kind, match.group(1))
        if match.group(2):
            names[key] = match.group(2)
        return names.get(key, text)

    with open(path) as dump:
        for line in dump:
            if line.startswith("fn="):
                function = resolve("fn", line[3:].rstrip("\n"))
            elif line.startswith("cfn="):
                resolve("fn", line[4:].rstrip("\n"))
            elif line.startswith("calls="):
                after_call = True
            elif line[:1].isdigit() or line[:1] in "+-*":
                fields = line.split()
                if len(fields) < 2:
                    continue
                if after_call:
                    after_call = False
                else:
                    costs[function] += int(fields[1])
    return costs


def main():
    path, requests = sys.argv[1], int(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    costs = own_costs(path)
    total = sum(costs.values())
    guest = sum(c for f, c in costs.items() if f and f.startswith("0x"))
    print(f"{guest / requests:>10,.0f}  {100 * guest / total:5.1f} %  (every function wasmtime compiled: the guest)")
    for function, cost in costs.most_common(top):
        print(f"{cost / requests:>10,.0f}  {100 * cost / total:5.1f} %  {function[:120]}")


if __name__ == "__main__":
    main()
