package deploy

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/config"
)

const secretConfig = `cluster:
  name: c1
redis:
  url: redis://:MainPw@127.0.0.1:6390/0
hosts:
  h1:
    role: web
    address: 10.0.0.1
workers:
  web:
    queue: web
    tasks: []
secrets:
  provider: vault
  endpoint: https://u:VaultPw@vault.example:8200
monitoring:
  alert_channels:
    - webhook: https://hooks.example/WebhookTok
`

const secretOverlay = `redis:
  url: redis-sentinel://:ProdPw@s1:26379,s2:26379/0?master=m&sentinel_password=SentPw
secrets:
  endpoint: https://u:ProdVaultPw@vault.example:8200
`

// secretRelease is a release whose cl.yaml is a link to conf/cl.yaml and
// whose prod overlay holds other credentials.
func secretRelease(t *testing.T) (*Release, Binary) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cl")
	os.WriteFile(bin, []byte("binary"), 0o755)
	b, err := (&Binaries{Self: bin}).For("linux", "amd64")
	if err != nil {
		t.Fatal(err)
	}
	files := []File{
		newFile("cl.yaml", ModeSymlink, []byte("conf/cl.yaml")),
		newFile("conf/cl.yaml", ModeFile, []byte(secretConfig)),
		newFile("environments/prod.yaml", ModeFile, []byte(secretOverlay)),
		newFile("tasks/x.sh", ModeExec, []byte("echo x\n")),
	}
	rel := &Release{Version: strings.Repeat("b", 40), Commit: strings.Repeat("b", 40), Time: time.Unix(1700000000, 0), Files: files}
	return rel, b
}

var secretWords = []string{"MainPw", "VaultPw", "WebhookTok", "ProdPw", "SentPw", "ProdVaultPw"}

// TestForHostShipsNoSecrets: the tree hosts get holds no credential but in
// .celeroot/credentials (the URL of the worker's environment only), and
// every file is its owner's only.
func TestForHostShipsNoSecrets(t *testing.T) {
	rel, bin := secretRelease(t)
	for _, c := range []struct {
		env, url string
	}{
		{"", "redis://:MainPw@127.0.0.1:6390/0"},
		{"prod", "redis-sentinel://:ProdPw@s1:26379,s2:26379/0?master=m&sentinel_password=SentPw"},
	} {
		hr, err := rel.ForHost(WorkerSpec{Host: "h1", Role: "web", Cluster: "c1", Env: c.env}, bin)
		if err != nil {
			t.Fatal(err)
		}
		data, err := hr.payload(&payloadCache{}, Diff(nil, hr.Manifest), payloadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(bytes.NewReader(data.bytes()))
		files := map[string]string{}
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(tr)
			files[h.Name] = string(b)
			if h.Typeflag == tar.TypeReg && h.Mode&0o077 != 0 {
				t.Errorf("env %q: %s has mode %o: group or others may read it", c.env, h.Name, h.Mode)
			}
		}
		creds, err := config.ParseWorkerCredentials(CredentialsPath, []byte(files[CredentialsPath]))
		if err != nil || creds.RedisURL != c.url || creds.Env != c.env {
			t.Errorf("env %q: credentials %+v, %v", c.env, creds, err)
		}
		for name, content := range files {
			if name == CredentialsPath {
				continue
			}
			for _, w := range secretWords {
				if strings.Contains(content, w) {
					t.Errorf("env %q: %s ships %s:\n%s", c.env, name, w, content)
				}
			}
		}
		if !strings.Contains(files["conf/cl.yaml"], "url: redis://127.0.0.1:6390/0") ||
			!strings.Contains(files["environments/prod.yaml"], "url: redis-sentinel://s1:26379,s2:26379/0?master=m") {
			t.Errorf("env %q: redis.url not kept without its password:\n%s\n%s", c.env, files["conf/cl.yaml"], files["environments/prod.yaml"])
		}
		if !strings.Contains(files[WorkerConfigPath], "credentials: "+CredentialsPath) {
			t.Errorf("worker.yaml does not name the credentials:\n%s", files[WorkerConfigPath])
		}
		if e, ok := hr.Manifest.Lookup(CredentialsPath); !ok || e.Mode.Perm() != 0o600 {
			t.Errorf("manifest entry of the credentials: %+v, %v", e, ok)
		}
	}
}

// TestForHostDeltaUnchanged: the worker copies are the same from release
// to release, so an unchanged cl.yaml is hard-linked, not sent.
func TestForHostDeltaUnchanged(t *testing.T) {
	rel, bin := secretRelease(t)
	w := WorkerSpec{Host: "h1", Role: "web", Cluster: "c1"}
	a, err := rel.ForHost(w, bin)
	if err != nil {
		t.Fatal(err)
	}
	next := *rel
	next.Version = strings.Repeat("c", 40)
	next.Files = append([]File{}, rel.Files...)
	next.Files[3] = newFile("tasks/x.sh", ModeExec, []byte("echo y\n"))
	b, err := next.ForHost(w, bin)
	if err != nil {
		t.Fatal(err)
	}
	d := Diff(a.Manifest, b.Manifest)
	var sent []string
	for _, e := range d.Send {
		sent = append(sent, e.Path)
	}
	if strings.Join(sent, ",") != "cl.yaml,tasks/x.sh" { // links are always sent
		t.Errorf("sent %v, want the link and the changed file", sent)
	}
}

func TestModePerm(t *testing.T) {
	if ModeFile.Perm() != 0o600 || ModeExec.Perm() != 0o700 {
		t.Errorf("perms %o %o, want 0600 0700", ModeFile.Perm(), ModeExec.Perm())
	}
}

func TestForHostRefusesUncleanableConfig(t *testing.T) {
	rel, bin := secretRelease(t)
	rel.Files[1] = newFile("conf/cl.yaml", ModeFile, []byte("{cluster: {name: c}, redis: {url: 'redis://:pw@h:1/0'}}\n"))
	_, err := rel.ForHost(WorkerSpec{Host: "h1", Role: "web", Cluster: "c"}, bin)
	if err == nil || !strings.Contains(err.Error(), "conf/cl.yaml") || strings.Contains(err.Error(), "pw@") {
		t.Errorf("got %v, want an error naming conf/cl.yaml without the password", err)
	}
}
