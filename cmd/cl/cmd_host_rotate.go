package main

import (
	"fmt"

	"github.com/celeroot/celeroot/sshkeys"
	"github.com/celeroot/celeroot/termtext"
)

// HostRotateKeysCmd is `cl host rotate-keys`.
type HostRotateKeysCmd struct {
	DryRun bool `help:"Connect with the current keys and check every host can take a new one; change nothing."`
}

// Run rotates every SSH key file the hosts of cl.yaml log in with.
func (c *HostRotateKeysCmd) Run(a *App) error {
	cfg, err := a.LoadConfig()
	if err != nil {
		return err
	}
	rep, err := sshkeys.Rotate(a.Ctx, sshkeys.Options{Config: cfg, DryRun: c.DryRun, Log: a.Log})
	if a.JSON() {
		if jerr := a.PrintJSON(rep); jerr != nil {
			return jerr
		}
	} else if rep != nil {
		printRotation(a, rep)
	}
	return err
}

func printRotation(a *App, rep *sshkeys.Report) {
	for _, k := range rep.Keys {
		fmt.Fprintf(a.Stdout, "key %s (%s)\n", termtext.Clean(k.File), k.OldFingerprint)
		t := newTable(a.Stdout, "HOST", "STEP", "RESULT")
		for _, h := range k.Hosts {
			res := "ok"
			if !h.OK {
				res = "FAILED: " + h.Error
			}
			t.row(h.Host, h.Step, termtext.Clean(res))
		}
		_ = t.flush()
		switch {
		case rep.DryRun && len(k.Failed()) == 0:
			fmt.Fprintf(a.Stdout, "dry run: all %s can take a new key; nothing changed\n", plural(len(k.Hosts), "host"))
		case k.Rotated:
			fmt.Fprintf(a.Stdout, "rotated: %s is now %s; the old key is kept as %s\n", termtext.Clean(k.File), k.NewFingerprint, termtext.Clean(k.Backup))
		}
	}
	for _, s := range rep.Skipped {
		fmt.Fprintf(a.Stdout, "skipped %s: %s\n", s.Host, s.Error)
	}
}
