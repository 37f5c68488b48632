// Package testhost brings up real OpenSSH test hosts on this machine for the
// end-to-end tests and benchmarks: every host is Debian's /usr/sbin/sshd
// running in its own network, mount and UTS namespaces. It needs root, sshd
// (openssh-server) and ip (iproute2); ssh-keygen, nsenter and unshare come
// with those and util-linux.
//
// # What a fleet is
//
// Start (or New in a test) creates, for n hosts named host1..hostN:
//
//   - a bridge clb<id> in the root namespace with the first address of a
//     random free 10.200-250.x.0/24 (Fleet.BridgeIP: bind servers such as
//     redis-server there so workers on the hosts can reach them);
//   - per host a network namespace clt<id>-h<i> joined to the bridge by a
//     veth pair (root side clv<id>x<i>, host side eth0) with the next
//     address, loopback up (each host has its own localhost), no default
//     route: hosts reach only the fleet subnet, never the outside;
//   - per host persistent mount and UTS namespaces (hostname = host name) in
//     which per-host directories are bind-mounted over Options.BindMounts
//     (default /opt/celeroot, /etc/systemd/system, /var/lib/celeroot) and
//     the login user's home; the sources live under the fleet directory and
//     belong to the login user, so deploys work without sudo. Everything
//     else (/usr, /etc, /tmp, ...) is this machine's filesystem, shared;
//   - per host an sshd on <addr>:22 with its own ed25519 and ecdsa host keys
//     and config (keys only, no PAM, AcceptEnv CL_*, TCP forwarding on for
//     jump-host tests, MaxStartups 100:30:200), run in the foreground by the
//     harness with stderr in Host.LogPath;
//   - a client key pair (Fleet.KeyPath, in every host's authorized_keys) and
//     a known_hosts file with every host key by address
//     (Fleet.KnownHostsPath), so clients can check host keys strictly.
//
// The login user (default "cltest", shell /bin/sh) is created once as a
// system user if missing, with password field "*" (sshd without PAM refuses
// locked accounts). If sudo is installed, /etc/sudoers.d/celeroot-testhost
// gives it passwordless sudo; /etc is shared, so that file is written once,
// idempotently, and stays. The mount points of the bind mounts are created
// (empty) on this machine's filesystem, and /run/sshd too.
//
// # From a test
//
//	f := testhost.New(t, 3)            // skips only without root, sshd or ip
//	h := f.Hosts[0]
//	ssh := exec.Command("ssh", append(h.SSHArgs(), "hostname")...)
//	out, err := h.Exec(ctx, "cat", "/etc/hostname") // as root inside the host
//	data, err := os.ReadFile(h.Path("/opt/celeroot/current/VERSION"))
//	p, err := h.Resolve("/opt/celeroot/current") // follows symlinks in the host's view
//	h.CutOff(); h.Restore()            // dead network: TCP connects time out
//	h.Kill(); h.Start(ctx)             // kill every process in the host; sshd back
//
// With WithSystemd() (Options.Systemd) every host also runs this machine's
// real systemd as PID 1 of its own PID namespace, with a private /run (so
// /run/systemd/system, the mark of a systemd host, exists only inside it), a
// cgroup namespace on its own cgroup2 subtree, a volatile journal and a
// minimal unit set; sshd and Command run in its PID and mount namespaces, so
// `sudo systemctl` and `journalctl` over SSH reach the host's systemd. See
// systemd.go; SystemdSkipReason says what is missing.
//
// New closes the fleet in t.Cleanup. Close kills every process in the
// hosts, deletes veths, namespaces and bridge, unmounts the namespace files
// and deletes the fleet directory; it is idempotent.
//
// # From bench scripts
//
//	go build -o /tmp/testhosts ./e2e/cmd/testhosts
//	/tmp/testhosts up -n 20 -o /tmp/fleet.json &   # foreground until SIGINT/SIGTERM
//	while [ ! -f /tmp/fleet.json ]; do sleep 0.1; done
//	/tmp/testhosts inventory -f /tmp/fleet.json --format ansible > /tmp/inv.ini
//	ansible all -i /tmp/inv.ini -m ping
//	kill %1; wait                                  # tears down, removes fleet.json
//	/tmp/testhosts down                            # sweeps leftovers of dead runs
//
// The description file (see Description) is written atomically once every
// sshd accepts connections. `go run ./e2e/cmd/testhosts up` works as well:
// `go run` does not forward SIGTERM, so `up` also tears down when its parent
// exits (-exit-with-parent, default on).
//
// # Leftovers
//
// Each fleet records itself (owner PID and start time, names, subnet,
// directories) in /run/celeroot-testhost/clt<id>.json before creating
// anything. Start, and `testhosts down`, sweep the fleets whose owner is
// dead, and any clb/clv link, clt netns or directory of a fleet without a
// state file, under a flock (/run/celeroot-testhost/lock) that also
// serialises id and subnet choice, so fleets in parallel test processes do
// not collide. Fleet ids are 4 random hex digits rather than the owner PID,
// so one process can own several fleets and names stay within the 15
// characters of an interface name; the owner PID is in the state file.
// Mount-namespace files live in /run/celeroot-testhost/ns (a private bind
// mount, as the kernel requires), removed when the last fleet closes.
package testhost
