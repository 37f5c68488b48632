package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/celeroot/celeroot/config"
	bluegreen "github.com/celeroot/celeroot/fleet"
	gitsync "github.com/celeroot/celeroot/sync"
)

// routeFleet returns the fleet a task goes to: explicit (--cluster), else
// the active fleet; "" without fleets (no Redis is read then).
func routeFleet(a *App, cfg *config.Config, explicit string) (string, error) {
	if explicit != "" || !cfg.HasFleets() {
		return bluegreen.Route(a.Ctx, cfg, nil, explicit)
	}
	q, err := openQueue(a, cfg)
	if err != nil {
		return "", err
	}
	defer q.Close()
	return bluegreen.Route(a.Ctx, cfg, q, "")
}

func commitWith(msg string, commit bool) config.CommitFunc {
	if !commit {
		return nil
	}
	return func(ctx context.Context, path string) (string, string, error) {
		return gitsync.CommitFile(ctx, path, msg)
	}
}

func printEdit(a *App, res *config.EditResult, msg string) {
	switch {
	case res == nil:
	case res.Committed != "":
		fmt.Fprintf(a.Stdout, "committed %s: %s\n", res.Committed[:12], msg)
	case res.NotCommitted != "":
		fmt.Fprintf(a.Stdout, "%s updated, not committed: %s\n", res.Path, res.NotCommitted)
	}
}

func splitList(vs []string) []string {
	var out []string
	for _, v := range vs {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

func (c *ClusterCreateCmd) auditEntry() auditEntry {
	return auditEntry{action: "cluster.create", targets: []string{"fleet:" + c.Name, "clone:" + c.Clone}}
}
func (c *ClusterSwitchCmd) auditEntry() auditEntry {
	return auditEntry{action: "cluster.switch", targets: []string{"fleet:" + c.Name}}
}
func (c *ClusterDestroyCmd) auditEntry() auditEntry {
	return auditEntry{action: "cluster.destroy", targets: []string{"fleet:" + c.Name}}
}
