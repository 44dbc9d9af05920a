"""Prints the spans an OpenTelemetry Collector's file exporter wrote (OTLP JSON, one export
request a line), one line each, in the order they ended, for a test to compare exactly:

    SERVICE NAME KIND trace=TRACE_ID parent=PARENT_SPAN_ID status=CODE key=value ...

Attributes are sorted; pullthrough.guest_us, a duration, prints as `>0` when it is a positive
integer. `spans.py FILE COUNT` prints nothing and exits 1 until FILE holds COUNT spans.
"""
import json
import sys

KINDS = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


def value(attribute):
    (kind, raw), = attribute["value"].items()
    if attribute["key"] == "pullthrough.guest_us":
        return ">0" if kind == "intValue" and int(raw) > 0 else f"{kind}:{raw}"
    return str(raw)


def spans(path):
    found = []
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            for resource_spans in json.loads(line)["resourceSpans"]:
                resource = {a["key"]: value(a) for a in resource_spans["resource"]["attributes"]}
                for scope_spans in resource_spans["scopeSpans"]:
                    for span in scope_spans["spans"]:
                        found.append((int(span["endTimeUnixNano"]), resource["service.name"], span))
    return [(service, span) for _, service, span in sorted(found, key=lambda f: f[0])]


def line(service, span):
    attributes = " ".join(sorted(f"{a['key']}={value(a)}" for a in span.get("attributes", [])))
    status = span.get("status", {}).get("code", 0)
    return (f"{service} {span['name']} {KINDS.get(span.get('kind'), span.get('kind'))} "
            f"trace={span['traceId']} parent={span.get('parentSpanId') or '-'} status={status} {attributes}")


def main():
    path = sys.argv[1]
    try:
        found = spans(path)
    except FileNotFoundError:
        found = []
    if len(sys.argv) > 2 and len(found) < int(sys.argv[2]):
        sys.exit(1)
    for service, span in found:
        print(line(service, span))


if __name__ == "__main__":
    main()
