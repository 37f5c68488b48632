package deploy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/celeroot/celeroot/hostexec"
)

// prereqScript checks what a host needs before anything is installed and
// creates the target directory. $1 is the target directory, $2 the
// systemd unit path. It prints key=value lines.
const prereqScript = `LC_ALL=C; export LC_ALL
echo "os=$(uname -s)"
echo "machine=$(uname -m)"
echo "uid=$(id -u)"
if [ -d /run/systemd/system ]; then echo systemd=1; else echo systemd=0; fi
missing=
for t in tar awk sort ln mv readlink mkdir rm touch cut; do
	command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
done
echo "missing=$missing"
if [ -e "$1" ]; then echo target_existed=1; fi
if [ -d "$1" ] && [ -z "$(ls -A -- "$1" 2>/dev/null)" ]; then echo target_empty=1; fi
if [ -e "$1/current" ] || [ -L "$1/current" ]; then echo current_existed=1; fi
if [ -e "$2" ]; then echo unit_existed=1; fi
if [ -e "$3.lock" ] || [ -e "$3.log" ]; then echo state_existed=1; fi
if [ -e "$(dirname -- "$3")" ]; then echo state_dir_existed=1; fi
if mkdir -p -- "$1" 2>/dev/null && [ -w "$1" ]; then echo target_writable=1; fi
p=$1
while [ ! -e "$p" ] && [ "$p" != / ]; do p=$(dirname -- "$p"); done
echo "free_kb=$(df -Pk -- "$p" | awk 'NR > 1 { v = $(NF-2) } END { print v }')"
`

// prereqs is what prereqScript found.
type prereqs struct {
	OS, Machine, Arch string
	Root, Systemd     bool
	Missing           []string
	TargetExisted     bool
	TargetEmpty       bool // existed, but empty: everything in it is ours
	CurrentExisted    bool
	UnitExisted       bool
	StateExisted      bool // the supervisor's files of this service
	StateDirExisted   bool
	TargetWritable    bool
	FreeBytes         uint64
}

func (r *remote) prereqs(ctx context.Context, unitPath, statePrefix string) (prereqs, error) {
	var out bytes.Buffer
	err := r.check(ctx, "check prerequisites", hostexec.Command{Argv: []string{"/bin/sh", "-c", prereqScript, "sh", r.target, unitPath, statePrefix}, Stdout: &out, MaxStdout: maxOutput})
	if err != nil {
		return prereqs{}, err
	}
	var p prereqs
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch k {
		case "os":
			p.OS = v
		case "machine":
			p.Machine, p.Arch = v, hostexec.NormalizeArch(v)
		case "uid":
			p.Root = v == "0"
		case "systemd":
			p.Systemd = v == "1"
		case "missing":
			p.Missing = strings.Fields(v)
		case "target_existed":
			p.TargetExisted = true
		case "target_empty":
			p.TargetEmpty = true
		case "current_existed":
			p.CurrentExisted = true
		case "unit_existed":
			p.UnitExisted = true
		case "state_existed":
			p.StateExisted = true
		case "state_dir_existed":
			p.StateDirExisted = true
		case "target_writable":
			p.TargetWritable = true
		case "free_kb":
			kb, _ := strconv.ParseUint(v, 10, 64)
			p.FreeBytes = kb * 1024
		}
	}
	return p, nil
}

// verdict returns what keeps the host from taking a release of need
// bytes, or nil.
func (p prereqs) verdict(name, target, user string, need uint64) error {
	switch {
	case p.OS != "Linux":
		return fmt.Errorf("%s runs %q, not Linux", name, p.OS)
	case len(p.Missing) > 0:
		return fmt.Errorf("%s lacks %s (install coreutils, tar and awk)", name, strings.Join(p.Missing, ", "))
	case !p.TargetWritable:
		return fmt.Errorf("%s: cannot create or write %s as %s: create it owned by %s, or set ssh.become: sudo", name, target, user, user)
	case p.Systemd && !p.Root:
		return fmt.Errorf("%s runs systemd, and installing the worker's unit needs root: log in as root or set ssh.become: sudo", name)
	case p.FreeBytes > 0 && p.FreeBytes < need:
		return fmt.Errorf("%s has %d MiB free on the file system of %s, %d MiB needed", name, p.FreeBytes>>20, target, need>>20)
	}
	return nil
}
