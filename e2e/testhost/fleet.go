package testhost

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Fleet is a set of test hosts on one bridge, owned by this process.
type Fleet struct {
	Hosts          []*Host
	User           string // login user on every host
	KeyPath        string // client private key (ed25519, no passphrase)
	PubKeyPath     string // KeyPath + ".pub", in every host's authorized_keys
	KnownHostsPath string // every host's ed25519 and ecdsa keys, by address
	Dir            string // fleet directory: keys, per-host sshd files and bind sources

	st     *fleetState
	subnet netip.Prefix
	tools  tools
	opts   Options
	acc    account

	closeOnce sync.Once
	closeErr  error
}

// Start brings up n hosts and returns when every sshd accepts TCP on port 22.
// On failure everything created so far is torn down. Leftovers of earlier
// fleets whose owner died are swept first. Requires root.
func Start(ctx context.Context, n int, opts ...Option) (*Fleet, error) {
	o := buildOptions(opts)
	if err := o.validate(n); err != nil {
		return nil, err
	}
	t, err := findTools()
	if err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("testhost: must run as root")
	}
	var f *Fleet
	err = withStateLock(func() error {
		var err error
		f, err = allocate(ctx, t, n, o)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("testhost: allocate fleet: %w", err)
	}
	if err := f.bringUp(ctx); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("interrupted: %w", ctx.Err())
		}
		if cerr := f.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("teardown after failed start: %w", cerr))
		}
		return nil, fmt.Errorf("testhost: bring up %d hosts: %w", n, err)
	}
	return f, nil
}

// allocate sweeps dead fleets, prepares the shared test user, reserves an id
// and a subnet, creates the fleet directory and records the fleet state.
// The caller holds the state lock, so parallel fleets never collide.
func allocate(ctx context.Context, t tools, n int, o Options) (*Fleet, error) {
	if _, err := sweepLocked(ctx, false); err != nil {
		return nil, fmt.Errorf("sweep leftovers: %w", err)
	}
	if err := ensureNSRoot(); err != nil {
		return nil, err
	}
	acc, err := ensureAccount(ctx, o.User)
	if err != nil {
		return nil, err
	}
	id, err := pickID(ctx, t.ip)
	if err != nil {
		return nil, err
	}
	subnet, err := pickSubnet(ctx, t.ip)
	if err != nil {
		return nil, err
	}
	st, err := newState(id, subnet, o.TempDir)
	if err != nil {
		return nil, err
	}
	f := &Fleet{User: o.User, Dir: st.Dir, st: st, subnet: subnet, tools: t, opts: o, acc: acc,
		KeyPath: filepath.Join(st.Dir, "id_ed25519"), KnownHostsPath: filepath.Join(st.Dir, "known_hosts")}
	f.PubKeyPath = f.KeyPath + ".pub"
	targets := append(append([]string{}, o.BindMounts...), acc.home)
	if err := checkBindTargets(targets, st.Dir, StateDir, "/run/netns", "/run/sshd"); err != nil {
		_ = os.RemoveAll(st.Dir)
		return nil, err
	}
	f.addHosts(n, targets)
	if err := st.save(); err != nil {
		_ = os.RemoveAll(st.Dir)
		return nil, err
	}
	return f, nil
}

// newState creates the fleet directory and the state for fleet id.
func newState(id string, subnet netip.Prefix, tempDir string) (*fleetState, error) {
	if tempDir == "" {
		tempDir = os.TempDir()
	}
	dir, err := os.MkdirTemp(tempDir, tempPrefix+id+"-")
	if err != nil {
		return nil, fmt.Errorf("create fleet directory: %w", err)
	}
	start, err := procStartTime(os.Getpid())
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("read own start time: %w", err)
	}
	return &fleetState{ID: id, PID: os.Getpid(), StartTime: start, Bridge: bridgeName(id),
		Subnet: subnet.String(), Dir: dir, NSDir: filepath.Join(nsRoot, namePrefix+id)}, nil
}

// addHosts fills in Hosts and the state's host records.
func (f *Fleet) addHosts(n int, targets []string) {
	for i := 1; i <= n; i++ {
		h := &Host{Name: fmt.Sprintf("%s%d", f.opts.NamePrefix, i), Index: i,
			Addr: addrFor(f.subnet, i).String(), Port: 22, fleet: f,
			netns: netnsName(f.st.ID, i), veth: vethName(f.st.ID, i),
			mntFile: mntFile(f.st.NSDir, i), utsFile: utsFile(f.st.NSDir, i)}
		h.dir = filepath.Join(f.Dir, h.Name)
		for _, t := range targets {
			t = filepath.Clean(t)
			h.mounts = append(h.mounts, bindMount{source: filepath.Join(h.rootDir(), t), target: t})
		}
		f.Hosts = append(f.Hosts, h)
		f.st.Hosts = append(f.st.Hosts, hostState{Name: h.Name, NetNS: h.netns, Veth: h.veth, Addr: h.Addr})
	}
}

// bringUp creates the network, keys and namespaces, then starts every sshd.
func (f *Fleet) bringUp(ctx context.Context) error {
	if err := os.MkdirAll(f.st.NSDir, 0o700); err != nil {
		return fmt.Errorf("create namespace dir: %w", err)
	}
	if err := createBridge(ctx, f.tools.ip, f.st, f.subnet); err != nil {
		return err
	}
	if err := createNetNS(ctx, f.tools.ip, f.st); err != nil {
		return err
	}
	if err := createVeths(ctx, f.tools.ip, f.st); err != nil {
		return err
	}
	if err := keygen(ctx, f.tools, f.KeyPath, "ed25519", "celeroot-testhost-"+f.st.ID); err != nil {
		return err
	}
	err := forEach(ctx, f.Hosts, f.opts.Parallel, func(h *Host) error {
		if err := f.provision(ctx, h); err != nil {
			return err
		}
		return h.Start(ctx)
	})
	if err != nil {
		return err
	}
	return f.writeKnownHosts()
}

// provision prepares one host: directories, keys, config, network, namespaces.
func (f *Fleet) provision(ctx context.Context, h *Host) error {
	if err := f.prepareDirs(h); err != nil {
		return fmt.Errorf("prepare %s: %w", h.Name, err)
	}
	for _, typ := range hostKeyTypes {
		if err := keygen(ctx, f.tools, h.hostKeyPath(typ), typ, "root@"+h.Name); err != nil {
			return fmt.Errorf("host keys of %s: %w", h.Name, err)
		}
	}
	cfg := sshdConfig(h, f.User, f.opts.SSHDConfig)
	if err := os.WriteFile(h.SSHDConfigPath(), []byte(cfg), 0o600); err != nil {
		return fmt.Errorf("write sshd_config of %s: %w", h.Name, err)
	}
	if err := wireHost(ctx, f.tools.ip, f.st, f.subnet, h.Index); err != nil {
		return err
	}
	return createHostNS(ctx, f.tools, h)
}

// prepareDirs creates the host's sshd directory and its bind-mount sources
// (owned by the login user, so deploys work without sudo) and installs the
// client key in the host's ~/.ssh/authorized_keys.
func (f *Fleet) prepareDirs(h *Host) error {
	if err := os.MkdirAll(h.sshdDir(), 0o700); err != nil {
		return err
	}
	for _, m := range h.mounts {
		if err := mkdirOwned(m.source, f.acc.uid, f.acc.gid); err != nil {
			return err
		}
		if err := os.MkdirAll(m.target, 0o755); err != nil { // mount point, on the shared root fs
			return err
		}
	}
	pub, err := os.ReadFile(f.PubKeyPath)
	if err != nil {
		return err
	}
	sshDir := filepath.Join(h.Path(f.acc.home), ".ssh")
	if err := mkdirOwned(sshDir, f.acc.uid, f.acc.gid); err != nil {
		return err
	}
	ak := filepath.Join(sshDir, "authorized_keys")
	if err := os.WriteFile(ak, pub, 0o600); err != nil {
		return err
	}
	return os.Chown(ak, f.acc.uid, f.acc.gid)
}

func mkdirOwned(dir string, uid, gid int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.Chown(dir, uid, gid)
}

// writeKnownHosts writes every host's keys, by plain address, in host order.
func (f *Fleet) writeKnownHosts() error {
	var all []string
	for _, h := range f.Hosts {
		l, err := knownHostsLines(h)
		if err != nil {
			return err
		}
		all = append(all, l...)
	}
	if err := os.WriteFile(f.KnownHostsPath, []byte(strings.Join(all, "\n")+"\n"), 0o644); err != nil {
		return fmt.Errorf("write known_hosts: %w", err)
	}
	return nil
}

// ID is the fleet's name prefix, e.g. "clt3f9a": its netns are <ID>-h<i>,
// its namespace files live in StateDir/ns/<ID>.
func (f *Fleet) ID() string { return f.st.prefix() }

// BridgeIP is the root namespace's address on the fleet bridge: bind a
// server there (e.g. redis-server) and every host can reach it.
func (f *Fleet) BridgeIP() string { return addrFor(f.subnet, 0).String() }

// Subnet is the fleet's /24; hosts can reach nothing outside it.
func (f *Fleet) Subnet() netip.Prefix { return f.subnet }

// BridgeName is the bridge interface in the root namespace.
func (f *Fleet) BridgeName() string { return f.st.Bridge }

// Host returns the host named name, or nil.
func (f *Fleet) Host(name string) *Host {
	for _, h := range f.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// Close kills every process in the hosts, deletes the veths, network
// namespaces and bridge, unmounts the namespace files and deletes the fleet
// directory. Idempotent; later calls return the first result. If teardown
// fails the state file stays, so a later Sweep retries.
func (f *Fleet) Close() error {
	f.closeOnce.Do(func() { f.closeErr = f.close() })
	return f.closeErr
}

func (f *Fleet) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errs []error
	if err := f.stopSystemds(); err != nil {
		errs = append(errs, err)
	}
	if err := killInNamespaces(f.st.nsTargets()); err != nil {
		errs = append(errs, err)
	}
	for _, h := range f.Hosts {
		if err := h.Kill(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := teardown(ctx, f.st); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("testhost: close %s: %w", f.ID(), errors.Join(errs...))
	}
	if err := f.st.remove(); err != nil {
		return err
	}
	return withStateLock(releaseNSRoot)
}
