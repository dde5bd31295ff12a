// dashcheck decodes a Grafana dashboard JSON file the way Grafana's own schema does and fails on
// what Grafana would reject or silently drop: the Grafana Foundation SDK's strict decoder (types
// generated from Grafana's dashboard kind and its core panel and query plugins: a missing required
// field, a wrong type or an unknown field is an error), then its Validate(). Every panel's type
// must be a core panel plugin and every query a Prometheus query. Prints one line per panel.
//
// Grafana itself is AGPL (the project does not build or run it); this is the Apache-2.0 SDK
// generated from the same schema. Usage: dashcheck <dashboard.json>
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: dashcheck <dashboard.json>")
		os.Exit(2)
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := check(raw); err != nil {
		fmt.Fprintln(os.Stderr, "dashcheck:", err)
		os.Exit(1)
	}
}

func check(raw []byte) error {
	plugins.RegisterDefaultPlugins()
	var board dashboard.Dashboard
	if err := board.UnmarshalJSONStrict(raw); failed(err) {
		return fmt.Errorf("not a dashboard Grafana loads: %w", err)
	}
	if err := board.Validate(); failed(err) {
		return fmt.Errorf("invalid dashboard: %w", err)
	}
	// Dashboard.Panels comes back empty and Panel.Targets too: the SDK drops a panel or query whose
	// strict decoder returned its (empty) error list. So each is decoded here, just as strictly.
	var top struct {
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(raw, &top); err != nil {
		return err
	}
	panels, queries := 0, 0
	for i, item := range top.Panels {
		var head struct {
			Type    string            `json:"type"`
			Panels  []json.RawMessage `json:"panels"`
			Targets []json.RawMessage `json:"targets"`
		}
		if err := json.Unmarshal(item, &head); err != nil {
			return err
		}
		if head.Type == "row" {
			var row dashboard.RowPanel
			if err := row.UnmarshalJSONStrict(item); failed(err) {
				return fmt.Errorf("panels[%d]: %w", i, err)
			}
			if len(head.Panels) > 0 {
				return fmt.Errorf("panels[%d]: row %q is collapsed; the checks read expanded rows", i, deref(row.Title))
			}
			fmt.Printf("row   %q\n", deref(row.Title))
			continue
		}
		var p dashboard.Panel
		if err := p.UnmarshalJSONStrict(item); failed(err) {
			return fmt.Errorf("panels[%d]: %w", i, err)
		}
		if _, known := cog.ConfigForPanelcfgVariant(p.Type); !known {
			return fmt.Errorf("panels[%d] %q: %q is no core panel plugin", i, deref(p.Title), p.Type)
		}
		for j, target := range head.Targets {
			var q prometheus.Dataquery
			if err := q.UnmarshalJSONStrict(target); failed(err) {
				return fmt.Errorf("panels[%d] %q targets[%d]: not a Prometheus query: %w", i, deref(p.Title), j, err)
			}
			if q.Expr == "" {
				return fmt.Errorf("panels[%d] %q targets[%d]: no expr", i, deref(p.Title), j)
			}
		}
		panels++
		queries += len(head.Targets)
		fmt.Printf("panel %-10s %q (%d queries)\n", p.Type, deref(p.Title), len(head.Targets))
	}
	summary, _ := json.Marshal(map[string]any{"title": board.Title, "panels": panels, "queries": queries})
	fmt.Println(string(summary))
	return nil
}

func failed(err error) bool {
	var list cog.BuildErrors
	if errors.As(err, &list) {
		return len(list) > 0
	}
	return err != nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
