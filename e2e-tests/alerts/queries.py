"""Prints, as one JSON array, the PromQL a monitoring file holds, for promql-names to parse.

    queries.py rules FILE       every rule's expr of a Prometheus rule file
    queries.py dashboard FILE   every panel target's expr and query variable of a Grafana dashboard
    queries.py exported         the metric names of an OpenMetrics exposition on stdin, one a line

Grafana's variables are not PromQL: $__rate_interval becomes 5m and every other $variable the
regular expression .*, as Grafana's "All" would send.
"""
import json
import re
import sys

import yaml


def rules(path):
    with open(path) as f:
        groups = yaml.safe_load(f)["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def grafana_promql(text):
    text = text.replace("$__rate_interval", "5m")
    return re.sub(r"\$\{?\w+\}?", ".*", text)


def dashboard(path):
    with open(path) as f:
        board = json.load(f)
    found = [target["expr"] for panel in board["panels"] for target in panel.get("targets", [])]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            # label_values(METRIC, LABEL) is Grafana's, not PromQL: its METRIC is a selector.
            query = variable["query"]["query"]
            match = re.fullmatch(r"label_values\((.+), *\w+\)", query)
            found.append(match.group(1) if match else query)
    return [grafana_promql(expr) for expr in found]


def exported(lines):
    names = {re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
             for line in lines if line.strip() and not line.startswith("#")}
    return sorted(names)


def main():
    what = sys.argv[1]
    if what == "exported":
        print("\n".join(exported(sys.stdin)))
    elif what == "rules":
        print(json.dumps(rules(sys.argv[2])))
    elif what == "dashboard":
        print(json.dumps(dashboard(sys.argv[2])))
    else:
        sys.exit(f"queries.py: rules FILE, dashboard FILE or exported, not {what!r}")


if __name__ == "__main__":
    main()
