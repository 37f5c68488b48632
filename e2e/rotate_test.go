package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/e2e/testhost"
	"github.com/celeroot/celeroot/hostexec"
	"github.com/celeroot/celeroot/sshkeys"
)

// TestRotateKeys: `cl host rotate-keys` on real sshd hosts. With one host
// whose authorized_keys cannot be rewritten, the dry run and the rotation
// both name it and nothing changes anywhere (the new key is taken out
// again from the hosts it reached, the local key file is untouched). Once
// the host is fixed, a rotation installs the new key, keeps the old one as
// a backup, and the old key no longer logs in anywhere; a second rotation
// prunes backups down to ssh.key_rotation.backup_keys.
func TestRotateKeys(t *testing.T) {
	f := testhost.New(t, 3)
	ctx := ctxFor(t, 3*time.Minute)
	dir := t.TempDir()
	key := filepath.Join(dir, "id_deploy")
	data, err := os.ReadFile(f.KeyPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := WriteFleetConfig(t, dir, f, FleetConfig{SSHExtra: "  key_rotation:\n    backup_keys: 1\n"})
	text, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, bytes.Replace(text, []byte(f.KeyPath), []byte(key), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	u, err := user.Lookup(f.User)
	if err != nil {
		t.Fatal(err)
	}
	ak := func(h *testhost.Host) string { return h.Path(filepath.Join(u.HomeDir, ".ssh", "authorized_keys")) }
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	before := map[string]string{}
	for _, h := range f.Hosts {
		before[h.Name] = read(ak(h))
	}
	cl := func(args ...string) (string, string, int) {
		cmd := exec.CommandContext(ctx, CL(t), append([]string{"-c", cfg}, args...)...)
		cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=") // the key file alone
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}

	// host3's ~/.ssh belongs to root: sshd still accepts the key, the
	// login user cannot rewrite the file.
	bad := f.Hosts[2]
	sshDir := filepath.Dir(ak(bad))
	if err := os.Chown(sshDir, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(ak(bad), 0, 0); err != nil {
		t.Fatal(err)
	}
	os.Chmod(ak(bad), 0o644)
	out, stderr, code := cl("host", "rotate-keys", "--dry-run")
	if code != 1 || !strings.Contains(stderr, bad.Name) || !strings.Contains(out, "not writable") {
		t.Fatalf("dry run with %s unwritable: exit %d\n%s%s", bad.Name, code, out, stderr)
	}
	out, stderr, code = cl("host", "rotate-keys")
	if code != 1 || !strings.Contains(stderr, bad.Name) || !strings.Contains(stderr, "nothing else was removed") {
		t.Fatalf("rotation with %s unwritable: exit %d\n%s%s", bad.Name, code, out, stderr)
	}
	if got, _ := os.ReadFile(key); !bytes.Equal(got, data) {
		t.Fatal("the failed rotation changed the local key")
	}
	for _, h := range f.Hosts {
		if got := read(ak(h)); got != before[h.Name] {
			t.Errorf("%s: authorized_keys after a failed rotation:\n%s\nwant\n%s", h.Name, got, before[h.Name])
		}
	}
	if _, err := os.Stat(key + ".new"); !os.IsNotExist(err) {
		t.Errorf("the staged key was left: %v", err)
	}

	// Fixed: the rotation goes through.
	if err := os.Chown(sshDir, mustAtoi(t, u.Uid), mustAtoi(t, u.Gid)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(ak(bad), mustAtoi(t, u.Uid), mustAtoi(t, u.Gid)); err != nil {
		t.Fatal(err)
	}
	out, stderr, code = cl("host", "rotate-keys")
	if code != 0 || !strings.Contains(out, "rotated:") {
		t.Fatalf("rotation: exit %d\n%s%s", code, out, stderr)
	}
	backups := sshkeys.Backups(key)
	if len(backups) != 1 {
		t.Fatalf("backups after one rotation: %v", backups)
	}
	if got, _ := os.ReadFile(backups[0]); !bytes.Equal(got, data) {
		t.Error("the backup is not the old key")
	}
	if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("new key file: %v %v", st.Mode(), err)
	}
	oldKP, err := sshkeys.ReadKeyPair(backups[0])
	if err != nil {
		t.Fatal(err)
	}
	newKP, err := sshkeys.ReadKeyPair(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range f.Hosts {
		got := read(ak(h))
		if strings.Contains(got, oldKP.Blob()) || !strings.Contains(got, newKP.Blob()) {
			t.Errorf("%s: authorized_keys has the old key or lacks the new one:\n%s", h.Name, got)
		}
		if err := login(ctx, f, h, backups[0]); err == nil {
			t.Errorf("%s: the old key still logs in", h.Name)
		}
		if err := login(ctx, f, h, key); err != nil {
			t.Errorf("%s: the new key does not log in: %v", h.Name, err)
		}
	}
	if out, stderr, code := cl("host", "status"); code != 0 {
		t.Errorf("host status with the new key: exit %d\n%s%s", code, out, stderr)
	}

	// A second rotation keeps backup_keys (1) backups: the newest.
	time.Sleep(1100 * time.Millisecond) // backups are named by the second
	if out, stderr, code := cl("host", "rotate-keys"); code != 0 {
		t.Fatalf("second rotation: exit %d\n%s%s", code, out, stderr)
	}
	again := sshkeys.Backups(key)
	if len(again) != 1 || again[0] == backups[0] {
		t.Errorf("backups after two rotations with backup_keys 1: %v (first %s)", again, backups[0])
	}
}

// login opens a fresh connection to h with keyFile alone and runs true.
func login(ctx context.Context, f *testhost.Fleet, h *testhost.Host, keyFile string) error {
	t := hostexec.Target{Name: h.Name, Address: h.Addr, Port: h.Port, User: f.User, KeyFiles: []string{keyFile}}
	hx, err := hostexec.Dial(ctx, t, hostexec.Options{KnownHostsFile: f.KnownHostsPath, ConnectTimeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer hx.Close()
	_, err = hx.Run(ctx, hostexec.Command{Argv: []string{"true"}})
	return err
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
