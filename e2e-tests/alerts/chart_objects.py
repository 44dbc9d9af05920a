"""Checks the chart's monitoring objects in a `helm template` output, where kubernetes-validate
cannot (it has no monitoring.coreos.com schemas).

    chart_objects.py RENDERED.yaml CHART_DIR KIND

KIND is ServiceMonitor, PrometheusRule or ConfigMap (the Grafana dashboard). Checks the fields and
types the Prometheus Operator's CRDs require and allow, and that the object is wired to the rest
of the chart: the ServiceMonitor selects the chart's Service and one of its named ports, the
PrometheusRule's spec is files/alerts.yaml, the ConfigMap holds files/dashboard.json with the
sidecar's label. Prints one line saying what it found and exits 0, or what is wrong and exits 1.
"""
import json
import os
import re
import sys

import yaml

# The CRDs' duration pattern (monitoring.coreos.com/v1 Duration).
DURATION = re.compile(r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$")
# Of the fields the CRDs allow, those the chart may use.
SERVICE_MONITOR_SPEC = {"selector", "namespaceSelector", "endpoints", "jobLabel"}
ENDPOINT = {"port", "path", "interval", "scheme", "scrapeTimeout"}
RULE = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}


class Invalid(Exception):
    pass


def require(condition, message):
    if not condition:
        raise Invalid(message)


def labels_text(obj):
    return ",".join(f"{k}={v}" for k, v in sorted(obj["metadata"].get("labels", {}).items()))


def check_metadata(obj, name):
    meta = obj.get("metadata", {})
    require(isinstance(meta.get("name"), str) and meta["name"], f"{name}: metadata.name is missing")
    require(isinstance(meta.get("namespace"), str) and meta["namespace"], f"{name}: metadata.namespace is missing")
    for key, value in meta.get("labels", {}).items():
        require(isinstance(value, str), f"{name}: label {key} is not a string: {value!r}")


def service_monitor(obj, objects, chart, name):
    require(obj["apiVersion"] == "monitoring.coreos.com/v1", f"{name}: apiVersion {obj['apiVersion']}")
    spec = obj["spec"]
    require(set(spec) <= SERVICE_MONITOR_SPEC, f"{name}: unknown spec fields {sorted(set(spec) - SERVICE_MONITOR_SPEC)}")
    services = [o for o in objects if o["kind"] == "Service"]
    require(len(services) == 1, f"{name}: expected the chart's one Service, found {len(services)}")
    service = services[0]
    selector = spec["selector"]["matchLabels"]
    service_labels = service["metadata"].get("labels", {})
    require(all(service_labels.get(k) == v for k, v in selector.items()) and selector,
            f"{name}: selector {selector} does not select Service {service['metadata']['name']}")
    require(spec.get("namespaceSelector", {}).get("matchNames") == [service["metadata"]["namespace"]],
            f"{name}: namespaceSelector does not name the Service's namespace")
    endpoints = spec["endpoints"]
    require(isinstance(endpoints, list) and len(endpoints) == 1, f"{name}: expected one endpoint")
    endpoint = endpoints[0]
    require(set(endpoint) <= ENDPOINT, f"{name}: unknown endpoint fields {sorted(set(endpoint) - ENDPOINT)}")
    ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
    require(endpoint.get("port") in ports,
            f"{name}: endpoint port {json.dumps(endpoint.get('port'))} is not a port of Service "
            f"{service['metadata']['name']} ({', '.join(sorted(ports))})")
    require(endpoint.get("path") == "/metrics", f"{name}: endpoint path {endpoint.get('path')!r}")
    interval = endpoint.get("interval")
    require(interval is None or (isinstance(interval, str) and DURATION.match(interval)),
            f"{name}: interval {interval!r} is not a duration")
    every = interval or "(Prometheus's interval)"
    return (f"scrapes Service {service['metadata']['name']} port {endpoint['port']} "
            f"({ports[endpoint['port']]}) every {every}")


def prometheus_rule(obj, objects, chart, name):
    require(obj["apiVersion"] == "monitoring.coreos.com/v1", f"{name}: apiVersion {obj['apiVersion']}")
    groups = obj["spec"]["groups"]
    rules = 0
    for group in groups:
        require(isinstance(group.get("name"), str) and group["name"], f"{name}: a group has no name")
        for rule in group["rules"]:
            require(set(rule) <= RULE, f"{name}: unknown rule fields {sorted(set(rule) - RULE)}")
            require(("alert" in rule) != ("record" in rule), f"{name}: a rule needs alert or record, not both")
            require(isinstance(rule.get("expr"), str), f"{name}: rule {rule.get('alert')} has no expr")
            for key in ("labels", "annotations"):
                require(all(isinstance(v, str) for v in rule.get(key, {}).values()),
                        f"{name}: rule {rule.get('alert')} has a {key} value that is not a string")
            rules += 1
    with open(os.path.join(chart, "files", "alerts.yaml")) as f:
        require(obj["spec"] == yaml.safe_load(f), f"{name}: spec differs from files/alerts.yaml")
    return f"holds files/alerts.yaml: {len(groups)} group{'s' * (len(groups) != 1)}, {rules} rules"


def dashboard(obj, objects, chart, name):
    require(obj["apiVersion"] == "v1", f"{name}: apiVersion {obj['apiVersion']}")
    require(obj["metadata"].get("labels", {}).get("grafana_dashboard") == "1",
            f"{name}: no grafana_dashboard: \"1\" label for the sidecar")
    with open(os.path.join(chart, "files", "dashboard.json")) as f:
        shipped = json.load(f)
    require(json.loads(obj["data"]["pullthrough.json"]) == shipped,
            f"{name}: data pullthrough.json differs from files/dashboard.json")
    return f"holds files/dashboard.json ({len(shipped['panels'])} panels)"


CHECKS = {"ServiceMonitor": service_monitor, "PrometheusRule": prometheus_rule, "ConfigMap": dashboard}


def main():
    rendered, chart, kind = sys.argv[1:]
    with open(rendered) as f:
        objects = [d for d in yaml.safe_load_all(f) if d]
    found = [o for o in objects if o["kind"] == kind]
    if len(found) != 1:
        sys.exit(f"expected one {kind}, found {len(found)}")
    obj = found[0]
    name = f"{kind}/{obj['metadata'].get('namespace')}/{obj['metadata'].get('name')}"
    try:
        check_metadata(obj, name)
        what = CHECKS[kind](obj, objects, chart, name)
    except Invalid as error:
        print(error)
        sys.exit(1)
    print(f"valid: {name} {what}, labels {labels_text(obj)}")


if __name__ == "__main__":
    main()
