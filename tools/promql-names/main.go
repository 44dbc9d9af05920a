// promql-names prints the metric names PromQL expressions select, parsed with Prometheus's own
// parser, so a test can hold an alert rule or a dashboard query to the metrics a server exports.
//
//	promql-names < expressions.json
//
// Reads a JSON array of expressions; prints each metric name once, sorted. Exits 1 on an
// expression that does not parse or a selector without a metric name (`{job="x"}`), naming it.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/prometheus/prometheus/promql/parser"
)

func main() {
	var expressions []string
	if err := json.NewDecoder(os.Stdin).Decode(&expressions); err != nil {
		fmt.Fprintf(os.Stderr, "promql-names: stdin must be a JSON array of strings: %v\n", err)
		os.Exit(2)
	}
	// The options Prometheus itself starts with: no experimental functions.
	promql := parser.NewParser(parser.Options{})
	names := map[string]bool{}
	failed := false
	for _, text := range expressions {
		expr, err := promql.ParseExpr(text)
		if err != nil {
			fmt.Fprintf(os.Stderr, "promql-names: %q does not parse: %v\n", text, err)
			failed = true
			continue
		}
		parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
			if selector, ok := node.(*parser.VectorSelector); ok {
				if selector.Name == "" {
					fmt.Fprintf(os.Stderr, "promql-names: %q selects %s without a metric name\n", text, selector)
					failed = true
				} else {
					names[selector.Name] = true
				}
			}
			return nil
		})
	}
	sorted := make([]string, 0, len(names))
	for name := range names {
		sorted = append(sorted, name)
	}
	sort.Strings(sorted)
	for _, name := range sorted {
		fmt.Println(name)
	}
	if failed {
		os.Exit(1)
	}
}
