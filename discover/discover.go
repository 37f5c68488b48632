package discover

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/drift"
	"github.com/celeroot/celeroot/hostexec"
)

// Candidate is one address with the SSH port open.
type Candidate struct {
	Address    string          `json:"address"`
	Port       int             `json:"port"`
	Banner     string          `json:"banner,omitempty"`
	LoggedIn   bool            `json:"logged_in"`
	Reason     string          `json:"reason,omitempty"` // why login failed (auth failed, host key unknown, ...)
	Error      string          `json:"error,omitempty"`
	Facts      *hostexec.Facts `json:"facts,omitempty"`
	Compatible bool            `json:"compatible"`
	Why        []string        `json:"why_not,omitempty"` // reasons it is not compatible
	Suggested  string          `json:"suggested_name,omitempty"`
	Known      string          `json:"known_as,omitempty"` // name in cl.yaml when already registered
}

// Options configures a scan.
type Options struct {
	Network     string // CIDR, e.g. 10.0.0.0/24
	Port        int
	Concurrency int
	Timeout     time.Duration // per TCP connect and banner read
	Force       bool          // allow networks larger than /16
	// Login targets a candidate (user, keys); nil skips the login.
	Login func(addr string, port int) hostexec.Target
	Opts  hostexec.Options
	// DiskPath is checked for free space (the deploy target directory).
	DiskPath string
	MinFree  uint64
	// Progress is called after each address is scanned.
	Progress func(done, total int)
}

// SupportedArch lists the architectures cl is built for.
var SupportedArch = []string{"amd64", "arm64"}

// MaxAddresses is the size of a /16; larger scans need Force.
const MaxAddresses = 1 << 16

// Addresses expands a CIDR into host addresses (network and broadcast
// addresses excluded for IPv4 prefixes shorter than /31).
func Addresses(cidr string, force bool) ([]netip.Addr, error) {
	pfx, err := netip.ParsePrefix(cidr)
	if err != nil {
		return nil, fmt.Errorf("--network %q: write a CIDR such as 10.0.0.0/24", cidr)
	}
	pfx = pfx.Masked()
	bits := pfx.Addr().BitLen() - pfx.Bits()
	if bits > 16 && !force {
		return nil, fmt.Errorf("--network %s has 2^%d addresses: scan at most a /16 (%d addresses), or pass --force", cidr, bits, MaxAddresses)
	}
	if bits > 20 {
		return nil, fmt.Errorf("--network %s is too large to scan even with --force (at most 2^20 addresses)", cidr)
	}
	var out []netip.Addr
	for a := pfx.Addr(); pfx.Contains(a); a = a.Next() {
		out = append(out, a)
		if !a.Next().IsValid() {
			break
		}
	}
	if pfx.Addr().Is4() && bits >= 2 {
		out = out[1 : len(out)-1]
	}
	return out, nil
}

// Scan probes every address of the network and returns those with the
// port open, in address order.
func Scan(ctx context.Context, o Options) ([]Candidate, error) {
	addrs, err := Addresses(o.Network, o.Force)
	if err != nil {
		return nil, err
	}
	if o.Port == 0 {
		o.Port = 22
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 256
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	results := make([]*Candidate, len(addrs))
	sem := make(chan struct{}, o.Concurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for i, a := range addrs {
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = probe(ctx, a.String(), o)
			if o.Progress != nil {
				mu.Lock()
				done++
				o.Progress(done, len(addrs))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	var out []Candidate
	for _, c := range results {
		if c != nil {
			out = append(out, *c)
		}
	}
	return out, ctx.Err()
}

// probe returns nil when the port is closed or does not speak SSH.
func probe(ctx context.Context, addr string, o Options) *Candidate {
	banner, err := readBanner(ctx, addr, o.Port, o.Timeout)
	if err != nil {
		return nil
	}
	c := &Candidate{Address: addr, Port: o.Port, Banner: banner}
	if o.Login == nil {
		return c
	}
	// The same observation as `cl host status`, of an address not in
	// cl.yaml yet.
	login := drift.OpenerFunc(func(ctx context.Context, _ *config.Host) (hostexec.Host, error) {
		return hostexec.Dial(ctx, o.Login(addr, o.Port), o.Opts)
	})
	ob := drift.Observe(ctx, login, []*config.Host{{Name: addr, Address: addr}}, drift.ObserveOptions{
		TargetDir: o.DiskPath, Facts: true, Parallel: 1, Timeout: o.Timeout + o.Opts.ConnectTimeout + 10*time.Second})[0]
	c.LoggedIn = ob.Connected()
	if !ob.Reachable {
		c.Reason, c.Error = ob.Reason, ob.Error
		return c
	}
	f := *ob.Facts
	c.Facts = &f
	c.Why = verdict(f, o.MinFree)
	c.Compatible = len(c.Why) == 0
	c.Suggested = SuggestName(f.Hostname, addr)
	return c
}

func readBanner(ctx context.Context, addr string, port int, timeout time.Duration) (string, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReaderSize(conn, 256).ReadString('\n')
	if err != nil && line == "" {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if !strings.HasPrefix(line, "SSH-") {
		return "", errors.New("not an SSH server")
	}
	return line, nil
}

func verdict(f hostexec.Facts, minFree uint64) []string {
	var why []string
	if f.Kernel == "" || f.OSID == "" {
		why = append(why, "not a Linux host (no /etc/os-release or uname -r)")
	}
	supported := false
	for _, a := range SupportedArch {
		supported = supported || f.Arch == a
	}
	if !supported {
		why = append(why, fmt.Sprintf("architecture %q is not supported (%s)", f.MachineArch, strings.Join(SupportedArch, ", ")))
	}
	if minFree > 0 && f.DiskFreeBytes < minFree {
		why = append(why, fmt.Sprintf("only %d MiB free on %s (need %d MiB)", f.DiskFreeBytes>>20, f.DiskPath, minFree>>20))
	}
	return why
}

var nameClean = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// SuggestName turns a host name into a cl.yaml host name: its first label,
// cleaned; the address with dashes when there is none.
func SuggestName(hostname, addr string) string {
	h, _, _ := strings.Cut(strings.TrimSpace(hostname), ".")
	h = strings.Trim(nameClean.ReplaceAllString(h, "-"), "-._")
	if h == "" || h == "localhost" {
		h = "host-" + strings.NewReplacer(".", "-", ":", "-").Replace(addr)
	}
	if len(h) > 63 {
		h = h[:63]
	}
	return h
}
