package discover

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/hostexec"
)

func TestAddresses(t *testing.T) {
	cases := []struct {
		cidr        string
		force       bool
		n           int
		first, last string
		err         string
	}{
		{"10.0.0.0/30", false, 2, "10.0.0.1", "10.0.0.2", ""},
		{"10.0.0.7/24", false, 254, "10.0.0.1", "10.0.0.254", ""},
		{"10.0.0.5/32", false, 1, "10.0.0.5", "10.0.0.5", ""},
		{"10.0.0.4/31", false, 2, "10.0.0.4", "10.0.0.5", ""},
		{"10.0.0.0/16", false, 65534, "10.0.0.1", "10.0.255.254", ""},
		{"10.0.0.0/15", false, 0, "", "", "--force"},
		{"10.0.0.0/8", true, 0, "", "", "too large"},
		{"10.0.0.0/14", true, 1<<18 - 2, "10.0.0.1", "10.3.255.254", ""},
		{"bogus", false, 0, "", "", "CIDR"},
	}
	for _, c := range cases {
		got, err := Addresses(c.cidr, c.force)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: err %v, want %q", c.cidr, err, c.err)
			}
			continue
		}
		if err != nil || len(got) != c.n || got[0].String() != c.first || got[len(got)-1].String() != c.last {
			t.Errorf("%s: %d addresses %v..%v err %v", c.cidr, len(got), got[0], got[len(got)-1], err)
		}
	}
}

func TestSuggestName(t *testing.T) {
	for in, want := range map[[2]string]string{
		{"web-3.prod.example.com", "10.0.0.3"}: "web-3",
		{"", "10.0.0.4"}:                       "host-10-0-0-4",
		{"localhost", "10.0.0.5"}:              "host-10-0-0-5",
		{"weird name!", "10.0.0.6"}:            "weird-name",
	} {
		if got := SuggestName(in[0], in[1]); got != want {
			t.Errorf("SuggestName(%q) = %q, want %q", in[0], got, want)
		}
	}
}

func TestVerdict(t *testing.T) {
	ok := hostexec.Facts{OSID: "debian", Kernel: "6.1", Arch: "amd64", DiskFreeBytes: 1 << 30, DiskPath: "/opt"}
	if why := verdict(ok, 100<<20); len(why) != 0 {
		t.Fatalf("compatible host rejected: %v", why)
	}
	bad := hostexec.Facts{Arch: "mips", MachineArch: "mips", DiskFreeBytes: 1 << 20, DiskPath: "/opt"}
	if why := verdict(bad, 100<<20); len(why) != 3 {
		t.Fatalf("want 3 reasons, got %v", why)
	}
}

// TestScanFindsOnlySSH: a listener that speaks SSH is found, one that
// speaks something else is not, closed ports are skipped quickly.
func TestScanFindsOnlySSH(t *testing.T) {
	ssh := listen(t, "127.0.0.2", "SSH-2.0-OpenSSH_9.2 test\r\n")
	listen(t, "127.0.0.3", "HTTP/1.1 400 Bad Request\r\n")
	start := time.Now()
	cands, err := Scan(context.Background(), Options{Network: "127.0.0.0/29", Port: ssh, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(cands) != 1 || cands[0].Address != "127.0.0.2" || !strings.HasPrefix(cands[0].Banner, "SSH-2.0-OpenSSH") {
		t.Fatalf("candidates: %+v", cands)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("scan of 6 addresses took %v", d)
	}
}

// listen serves banner on ip at one port shared by the test (the first
// call picks it).
var sharedPort int

func listen(t *testing.T, ip, banner string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(sharedPort)))
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	sharedPort = l.Addr().(*net.TCPAddr).Port
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(banner))
			c.Close()
		}
	}()
	return sharedPort
}
