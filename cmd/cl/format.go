package main

import (
	"sort"
	"strings"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/deploy"
)

// Small formatting helpers shared by the commands' printers.

func hostNames(hosts []*config.Host) []string {
	out := make([]string, len(hosts))
	for i, h := range hosts {
		out[i] = h.Name
	}
	return out
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func orDash(n int) any {
	if n == 0 {
		return "-"
	}
	return n
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func formatTags(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + tags[k]
	}
	return strings.Join(parts, ",")
}

func orDashStr(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// short shortens a version for tables: "-" for none, "?" kept.
func short(v string) string {
	switch v {
	case "":
		return "-"
	case "?":
		return "?"
	}
	return deploy.ShortVersion(v)
}
