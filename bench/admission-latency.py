"""Create latency of Deployments on the real API server, by what admits them, for
bench/admission-latency (which sets up the three namespaces and says what each one has):

    admission-latency.py APISERVER CLUSTER_DIR APISERVER_PID PER_MODE BLOCK MODE=NAMESPACE[@PID]...

Creates PER_MODE Deployments in each namespace over one keep-alive HTTPS connection as the
suite's admin, in blocks of BLOCK per mode taken in turn (a b c a b c ...), so every mode sees the
same machine load over the run. Each create is timed from the request's first byte to the
response's last; the API server's CPU (user + system from /proc/PID/stat) is read before and after
each block and charged to that block's mode, and so is the CPU of the process a mode names with
@PID (the webhook's). Prints one JSON line per mode, then a Markdown table.
"""
import http.client
import json
import os
import ssl
import sys
import time

APISERVER, CLUSTER_DIR, PID = sys.argv[1], sys.argv[2], int(sys.argv[3])
PER_MODE, BLOCK = int(sys.argv[4]), int(sys.argv[5])
MODES = [(arg.split("=", 1)[0], arg.split("=", 1)[1].split("@")[0]) for arg in sys.argv[6:]]
OTHER = {arg.split("=", 1)[0]: int(arg.split("@")[1]) for arg in sys.argv[6:] if "@" in arg}
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid=PID):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of proc(5); fields[0] here is field 3.
    return (int(fields[11]) + int(fields[12])) / TICKS


def deployment(name):
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        # No replicas: the controllers add no Pods, so the run measures the creates alone.
        "spec": {"replicas": 0, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [
                {"name": "web", "image": "nginx:1.27"},
                {"name": "metrics", "image": "ghcr.io/example/exporter:0.9@sha256:" + "a" * 64},
            ]}}},
    }


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main():
    host, port = APISERVER.removeprefix("https://").rsplit(":", 1)
    context = ssl.create_default_context(cafile=f"{CLUSTER_DIR}/pki/ca.crt")
    context.load_cert_chain(f"{CLUSTER_DIR}/pki/admin.crt", f"{CLUSTER_DIR}/pki/admin.key")
    connection = http.client.HTTPSConnection(host, int(port), context=context, timeout=30)
    latencies = {mode: [] for mode, _ in MODES}
    cpu = {mode: 0.0 for mode, _ in MODES}
    other_cpu = {mode: 0.0 for mode in OTHER}
    images = {}
    for block in range(PER_MODE // BLOCK):
        for mode, namespace in MODES:
            before = cpu_seconds()
            other_before = cpu_seconds(OTHER[mode]) if mode in OTHER else 0.0
            for i in range(BLOCK):
                name = f"bench-{block * BLOCK + i:04}"
                body = json.dumps(deployment(name)).encode()
                started = time.perf_counter()
                connection.request("POST", f"/apis/apps/v1/namespaces/{namespace}/deployments",
                                   body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                answer = response.read()
                latencies[mode].append(time.perf_counter() - started)
                if response.status != 201:
                    sys.exit(f"{mode}: {name}: {response.status} {answer[:300]!r}")
                images[mode] = json.loads(answer)["spec"]["template"]["spec"]["containers"][0]["image"]
            cpu[mode] += cpu_seconds() - before
            if mode in OTHER:
                other_cpu[mode] += cpu_seconds(OTHER[mode]) - other_before
    rows = []
    for mode, namespace in MODES:
        values = latencies[mode]
        row = {"mode": mode, "namespace": namespace, "creates": len(values),
               "p50_ms": round(percentile(values, 0.50) * 1000, 2),
               "p99_ms": round(percentile(values, 0.99) * 1000, 2),
               "mean_ms": round(sum(values) / len(values) * 1000, 2),
               "apiserver_cpu_ms_per_create": round(cpu[mode] / len(values) * 1000, 2),
               "webhook_cpu_ms_per_create": round(other_cpu.get(mode, 0.0) / len(values) * 1000, 2),
               "stored_image": images[mode]}
        rows.append(row)
        print(json.dumps(row))
    print()
    print("| admission | creates | p50 | p99 | mean | API server CPU per create "
          "| webhook CPU per create | stored image |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['mode']} | {r['creates']} | {r['p50_ms']} ms | {r['p99_ms']} ms | "
              f"{r['mean_ms']} ms | {r['apiserver_cpu_ms_per_create']} ms | "
              f"{r['webhook_cpu_ms_per_create']} ms | `{r['stored_image']}` |")


if __name__ == "__main__":
    main()
