package deploy

import (
	"bytes"
	"context"
	"path"
	"strings"

	"github.com/celeroot/celeroot/hostexec"
)

// cleanScript removes what a failed add created. Arguments: target,
// version, remove-release (1/0), remove-target-contents (1/0), state
// files prefix ("" to keep), remove-state-dir (1/0), remove-target-dir
// (1/0). It prints "left=PATH" for what it could not remove.
const cleanScript = `T=$1 V=$2 REL=$3 TGT=$4 ST=$5 STD=$6 TDIR=$7
gone() { if [ -e "$1" ] || [ -L "$1" ]; then rm -rf -- "$1" 2>/dev/null; fi; if [ -e "$1" ] || [ -L "$1" ]; then echo "left=$1"; fi; }
if [ "$REL" = 1 ]; then gone "$T/releases/$V"; fi
if [ -n "$ST" ]; then for x in lock pid json json.tmp argv argv.tmp log log.1; do gone "$ST.$x"; done; fi
if [ "$STD" = 1 ]; then rmdir -- "$(dirname -- "$ST")" 2>/dev/null || :; fi
if [ "$TGT" = 1 ]; then
	for x in current releases .celeroot; do gone "$T/$x"; done
	rm -f "$T"/.current.tmp.* 2>/dev/null
fi
if [ "$TDIR" = 1 ]; then rmdir -- "$T" 2>/dev/null || echo "left=$T"; fi
`

// cleanup undoes a failed add on the host, from the step that failed
// backwards, and records what could not be undone.
func (a *adder) cleanup(ctx context.Context, failed Step) {
	r := a.run
	if r.r == nil || failed == StepSSH {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, rollbackTimeout+a.e.healthTimeout())
	defer cancel()
	if r.switched || failed == StepRegistration {
		if a.pre.CurrentExisted && r.rep.From != "" && r.rep.From != a.rel.Version {
			r.rollback(ctx, "host add failed at "+string(failed))
			if r.rep.Rollback != nil && r.rep.Rollback.Error != "" {
				a.rep.Leftovers = append(a.rep.Leftovers, "worker on "+a.host.Name+": "+r.rep.Rollback.Error)
			}
		} else {
			if err := r.svc.stop(ctx, r.r, a.pre.Systemd && !a.pre.UnitExisted); err != nil {
				a.rep.Leftovers = append(a.rep.Leftovers, "the worker of "+a.host.Name+" may still run: "+err.Error())
			}
			r.rep.Current = "?"
			if err := r.r.callCheck(ctx, nil, 0, nil, "remove current", "deactivate", r.target()); err == nil {
				r.rep.Current = ""
			}
		}
	} else if a.pre.Systemd && !a.pre.UnitExisted && (failed == StepConfiguration || failed == StepHealth) {
		_ = r.svc.stop(ctx, r.r, true)
	}
	stateFiles := ""
	if !a.pre.Systemd && !a.pre.StateExisted {
		stateFiles = path.Join(StateDir, r.svc.name)
	}
	// The release goes when this add staged it and current is known not
	// to point to it.
	removeRelease := r.p.Present == "" && r.rep.Current != a.rel.Version && r.rep.Current != "?"
	ours := !a.pre.TargetExisted || a.pre.TargetEmpty
	args := []string{r.target(), a.rel.Version, bit(removeRelease), bit(ours), stateFiles, bit(stateFiles != "" && !a.pre.StateDirExisted), bit(!a.pre.TargetExisted)}
	var out bytes.Buffer
	err := r.r.check(ctx, "clean up", hostexec.Command{Argv: append([]string{"/bin/sh", "-c", cleanScript, "sh"}, args...), Stdout: &out, MaxStdout: maxOutput})
	if err != nil {
		a.rep.Leftovers = append(a.rep.Leftovers, "could not clean "+r.target()+" on "+a.host.Name+": "+err.Error())
		return
	}
	for _, l := range lastLines(out.String(), 1000) {
		if p, ok := strings.CutPrefix(l, "left="); ok {
			a.rep.Leftovers = append(a.rep.Leftovers, a.host.Name+":"+p)
		}
	}
}

func bit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
