package testhost

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
)

// Names of a fleet's kernel objects. Interface names are at most 15
// characters: "clb" + 4 hex = 7, "clv" + 4 hex + "x" + up to 3 digits = 11.
func bridgeName(id string) string       { return "clb" + id }
func vethName(id string, i int) string  { return fmt.Sprintf("clv%sx%d", id, i) }
func netnsName(id string, i int) string { return fmt.Sprintf("%s%s-h%d", namePrefix, id, i) }
func macFor(id string, i int) string {
	return fmt.Sprintf("02:c1:%s:%s:%02x:%02x", id[:2], id[2:], i>>8, i&0xff)
}
func addrFor(p netip.Prefix, i int) netip.Addr { return nthAddr(p.Addr(), i+1) }

func nthAddr(base netip.Addr, n int) netip.Addr {
	b := base.As4()
	b[3] += byte(n)
	return netip.AddrFrom4(b)
}

// pickID chooses a fleet id (4 hex digits) not used by any state file or
// leftover object. The caller holds the state lock.
func pickID(ctx context.Context, ip string) (string, error) {
	taken := map[string]bool{}
	states, err := loadStates()
	if err != nil {
		return "", err
	}
	for _, s := range states {
		taken[s.ID] = true
	}
	links, err := listLinks(ctx, ip)
	if err != nil {
		return "", err
	}
	for _, l := range links {
		if m := linkNameRe.FindStringSubmatch(l); m != nil {
			taken[m[1]] = true
		}
	}
	for range 1000 {
		id := fmt.Sprintf("%04x", rand.IntN(0x10000))
		if !taken[id] {
			return id, nil
		}
	}
	return "", fmt.Errorf("no free fleet id; run `testhosts down` to sweep leftovers")
}

// pickSubnet chooses a random 10.200-250.x.0/24 that overlaps no address on
// this machine, no /24-or-narrower route and no other fleet. The caller holds
// the state lock.
func pickSubnet(ctx context.Context, ip string) (netip.Prefix, error) {
	used, err := usedPrefixes(ctx, ip)
	if err != nil {
		return netip.Prefix{}, err
	}
	for range 500 {
		a := netip.AddrFrom4([4]byte{10, byte(200 + rand.IntN(51)), byte(rand.IntN(256)), 0})
		cand := netip.PrefixFrom(a, 24)
		if !overlapsAny(cand, used) {
			return cand, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free /24 in 10.200.0.0-10.250.255.0; check `ip -o addr`")
}

func overlapsAny(p netip.Prefix, used []netip.Prefix) bool {
	for _, u := range used {
		if p.Overlaps(u) {
			return true
		}
	}
	return false
}

// usedPrefixes collects IPv4 addresses, narrow routes and fleet subnets.
func usedPrefixes(ctx context.Context, ip string) ([]netip.Prefix, error) {
	var used []netip.Prefix
	out, err := run(ctx, "", ip, "-o", "-4", "addr", "show")
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	for _, f := range fieldsAfter(out, "inet") {
		if p, err := netip.ParsePrefix(f); err == nil {
			used = append(used, p.Masked())
		}
	}
	out, err = run(ctx, "", ip, "-o", "-4", "route", "show", "table", "all")
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	for _, line := range lines(out) {
		if p, err := parseRouteDst(line); err == nil && p.Bits() >= 24 {
			used = append(used, p)
		}
	}
	states, err := loadStates()
	if err != nil {
		return nil, err
	}
	for _, s := range states {
		if p, err := netip.ParsePrefix(s.Subnet); err == nil {
			used = append(used, p)
		}
	}
	return used, nil
}

// parseRouteDst reads the destination of an `ip -o route` line, skipping a
// leading route type such as "local" or "broadcast".
func parseRouteDst(line string) (netip.Prefix, error) {
	f := strings.Fields(line)
	if len(f) > 1 && (f[0] == "local" || f[0] == "broadcast" || f[0] == "unicast" || f[0] == "multicast") {
		f = f[1:]
	}
	if len(f) == 0 {
		return netip.Prefix{}, fmt.Errorf("empty route")
	}
	if !strings.Contains(f[0], "/") {
		f[0] += "/32"
	}
	return netip.ParsePrefix(f[0])
}

// fieldsAfter returns, for each line, the field following key.
func fieldsAfter(out []byte, key string) []string {
	var res []string
	for _, line := range lines(out) {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == key {
				res = append(res, f[i+1])
			}
		}
	}
	return res
}

func lines(out []byte) []string {
	var res []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			res = append(res, l)
		}
	}
	return res
}

// listLinks returns the names of the root namespace's interfaces.
func listLinks(ctx context.Context, ip string) ([]string, error) {
	out, err := run(ctx, "", ip, "-o", "link", "show")
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	var names []string
	for _, line := range lines(out) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		names = append(names, name)
	}
	return names, nil
}

// listNetNS returns the names of the named network namespaces.
func listNetNS(ctx context.Context, ip string) ([]string, error) {
	out, err := run(ctx, "", ip, "netns", "list")
	if err != nil {
		return nil, fmt.Errorf("list netns: %w", err)
	}
	var names []string
	for _, line := range lines(out) {
		names = append(names, strings.Fields(line)[0])
	}
	return names, nil
}

// createBridge creates the fleet's bridge with the subnet's first address.
// Host addresses get permanent neighbour entries so that a cut-off host
// times out instead of failing fast with "no route to host" after ARP gives up.
func createBridge(ctx context.Context, ip string, s *fleetState, subnet netip.Prefix) error {
	br := s.Bridge
	lines := []string{
		fmt.Sprintf("link add %s address %s type bridge forward_delay 0", br, macFor(s.ID, 0)),
		fmt.Sprintf("addr add %s/%d dev %s", addrFor(subnet, 0), subnet.Bits(), br),
		fmt.Sprintf("link set %s up", br),
	}
	for i := range s.Hosts {
		lines = append(lines, fmt.Sprintf("neigh replace %s lladdr %s dev %s nud permanent",
			addrFor(subnet, i+1), macFor(s.ID, i+1), br))
	}
	if err := ipBatch(ctx, ip, "", false, lines); err != nil {
		return fmt.Errorf("create bridge %s: %w", br, err)
	}
	return nil
}

// createNetNS creates every host's network namespace in one ip run (ip
// itself sets up /run/netns on first use, which must not race).
func createNetNS(ctx context.Context, ip string, s *fleetState) error {
	var lines []string
	for _, h := range s.Hosts {
		lines = append(lines, "netns add "+h.NetNS)
	}
	if err := ipBatch(ctx, ip, "", false, lines); err != nil {
		return fmt.Errorf("create network namespaces: %w", err)
	}
	return nil
}

// createVeths plugs every host into the bridge: a veth pair whose inner end
// is eth0 in the host's network namespace.
func createVeths(ctx context.Context, ip string, s *fleetState) error {
	var lines []string
	for i, h := range s.Hosts {
		lines = append(lines,
			fmt.Sprintf("link add %s type veth peer name eth0 address %s netns %s", h.Veth, macFor(s.ID, i+1), h.NetNS),
			fmt.Sprintf("link set %s master %s up", h.Veth, s.Bridge))
	}
	if err := ipBatch(ctx, ip, "", false, lines); err != nil {
		return fmt.Errorf("create veths: %w", err)
	}
	return nil
}

// wireHost configures host i's (1-based) network: its address, loopback up,
// and permanent neighbours for the bridge and every other host. No default
// route: hosts reach only the fleet subnet.
func wireHost(ctx context.Context, ip string, s *fleetState, subnet netip.Prefix, i int) error {
	h := s.Hosts[i-1]
	inner := []string{
		"link set lo up",
		fmt.Sprintf("addr add %s/%d dev eth0", h.Addr, subnet.Bits()),
		"link set eth0 up",
	}
	for j := 0; j <= len(s.Hosts); j++ {
		if j != i {
			inner = append(inner, fmt.Sprintf("neigh replace %s lladdr %s dev eth0 nud permanent",
				addrFor(subnet, j), macFor(s.ID, j)))
		}
	}
	if err := ipBatch(ctx, ip, h.NetNS, false, inner); err != nil {
		return fmt.Errorf("configure network of %s: %w", h.Name, err)
	}
	return nil
}

// setLink sets a root-side link up or down.
func setLink(ctx context.Context, ip, name string, up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	if _, err := run(ctx, "", ip, "link", "set", name, state); err != nil {
		return fmt.Errorf("set %s %s: %w", name, state, err)
	}
	return nil
}
