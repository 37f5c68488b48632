package config

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// registryFixture has comments, odd spacing and quoting that edits must keep.
const registryFixture = `# Fleet config  -- keep this comment
cluster:
  name: test   # trailing comment

hosts:
  # the first web server
  web1:
    role: web
    address: "10.0.0.1"    # quoted on purpose
    tags: {env: prod}

  # database
  db1:
    role: db
    address: 10.0.0.2
    tags:
      backup: required
      tier: gold

# Roles
workers:
  web:
    tasks: [webmod]
  db:
    tasks: [dbmod]
`

func TestAddHostKeepsEverythingElse(t *testing.T) {
	out, err := AddHost([]byte(registryFixture), HostSpec{Name: "web2", Role: "web", Address: "10.0.0.3", Port: 2222, Tags: map[string]string{"env": "prod"}})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(registryFixture, "      tier: gold\n", `      tier: gold
  web2:
    role: web
    address: 10.0.0.3
    ssh:
      port: 2222
    tags:
      env: prod
`, 1)
	if string(out) != want {
		t.Fatalf("got:\n%s\nwant:\n%s", out, want)
	}
}

func TestAddHostQuotesValuesYAMLWouldMisread(t *testing.T) {
	out, err := AddHost([]byte(registryFixture), HostSpec{Name: "web2", Role: "web", Address: "10.0.0.3", Tags: map[string]string{"legacy": "yes", "rack": "12"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `legacy: "yes"`) || !strings.Contains(string(out), `rack: "12"`) {
		t.Fatalf("tag values not quoted:\n%s", out)
	}
}

func TestAddHostWhenHostsMissingOrEmpty(t *testing.T) {
	for name, src := range map[string]string{
		"missing":    "cluster:\n  name: x\n",
		"null":       "hosts:\ncluster:\n  name: x\n",
		"tilde":      "hosts: ~\ncluster:\n  name: x\n",
		"empty flow": "hosts: {}\ncluster:\n  name: x\n",
	} {
		t.Run(name, func(t *testing.T) {
			out, err := AddHost([]byte(src), HostSpec{Name: "h1", Role: "r"})
			if err != nil {
				t.Fatal(err)
			}
			var cfgDoc srcDoc
			d, err := parseSrc(out)
			if err != nil {
				t.Fatalf("result does not parse: %v\n%s", err, out)
			}
			cfgDoc = *d
			_, hv := lookup(cfgDoc.root, "hosts")
			if k, _ := lookup(hv, "h1"); k == nil {
				t.Fatalf("host not added:\n%s", out)
			}
			if !strings.Contains(string(out), "cluster:\n  name: x\n") {
				t.Fatalf("rest changed:\n%s", out)
			}
		})
	}
}

func TestRemoveHostTakesItsCommentAndBlock(t *testing.T) {
	out, err := RemoveHost([]byte(registryFixture), "db1")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(registryFixture, `
  # database
  db1:
    role: db
    address: 10.0.0.2
    tags:
      backup: required
      tier: gold
`, "", 1)
	if string(out) != want {
		t.Fatalf("got:\n%s\nwant:\n%s", out, want)
	}
	out, err = RemoveHost([]byte(registryFixture), "web1")
	if err != nil {
		t.Fatal(err)
	}
	want = strings.Replace(registryFixture, `  # the first web server
  web1:
    role: web
    address: "10.0.0.1"    # quoted on purpose
    tags: {env: prod}

`, "", 1)
	if string(out) != want {
		t.Fatalf("got:\n%s\nwant:\n%s", out, want)
	}
}

func TestUpdateHostChangesOnlyValues(t *testing.T) {
	out, err := UpdateHost([]byte(registryFixture), HostSpec{Name: "web1", Role: "db", Address: "10.0.0.9", User: "admin", Tags: map[string]string{"env": "staging"}})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(registryFixture, `  web1:
    role: web
    address: "10.0.0.1"    # quoted on purpose
    tags: {env: prod}
`, `  web1:
    role: db
    address: 10.0.0.9    # quoted on purpose
    tags: {env: staging}
    ssh:
      user: admin
`, 1)
	if string(out) != want {
		t.Fatalf("got:\n%s\nwant:\n%s", out, want)
	}
	out, err = UpdateHost([]byte(registryFixture), HostSpec{Name: "db1", Tags: map[string]string{"zone": "a"}, RemoveTags: []string{"tier"}})
	if err != nil {
		t.Fatal(err)
	}
	want = strings.Replace(registryFixture, "      backup: required\n      tier: gold\n", "      backup: required\n      zone: a\n", 1)
	if string(out) != want {
		t.Fatalf("got:\n%s\nwant:\n%s", out, want)
	}
}

func TestEditErrors(t *testing.T) {
	if _, err := AddHost([]byte(registryFixture), HostSpec{Name: "web1", Role: "web"}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("duplicate add: %v", err)
	}
	if _, err := RemoveHost([]byte(registryFixture), "nope"); err == nil || !strings.Contains(err.Error(), "no host") {
		t.Fatalf("remove unknown: %v", err)
	}
	if _, err := UpdateHost([]byte(registryFixture), HostSpec{Name: "web1"}); err == nil || !strings.Contains(err.Error(), "nothing to change") {
		t.Fatalf("empty update: %v", err)
	}
	if _, err := UpdateHost([]byte(registryFixture), HostSpec{Name: "web1", RemoveTags: []string{"nope"}}); err == nil {
		t.Fatal("removing a missing tag succeeded")
	}
}

func TestApplyEditRefusesInvalidResult(t *testing.T) {
	path := writeProject(t, registryFixture, testModules)
	before, _ := os.ReadFile(path)
	_, err := ApplyEdit(context.Background(), Options{Path: path}, func(b []byte) ([]byte, error) {
		return AddHost(b, HostSpec{Name: "web2", Role: "nosuchrole"})
	}, nil)
	if err == nil || !strings.Contains(err.Error(), `unknown role "nosuchrole"`) || !strings.Contains(err.Error(), "untouched") {
		t.Fatalf("want refusal naming the role, got %v", err)
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(before) {
		t.Fatal("file changed by a refused edit")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Fatalf("temp file left behind: %s", e.Name())
		}
	}
}

// TestEditsQuoteKeysYAMLWouldMisread: tag keys (and host names) that YAML
// would read as something else, or not at all, are quoted by every edit
// that writes a key, and read back as written.
func TestEditsQuoteKeysYAMLWouldMisread(t *testing.T) {
	keys := []string{" ", "", "a: b", "#x", "- x", "?", "? x", "&a", "*a", "!t", "'q", `"`, "%x", "@x", "`x", "k\tv", "true", "1.0", "null", "~", "[a]", "{a}", "a #b", "é"}
	for _, k := range keys {
		check := func(what string, out []byte, err error) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s tag %q: %v", what, k, err)
			}
			d, err := parseSrc(out)
			if err != nil {
				t.Fatalf("%s tag %q: result does not parse: %v\n%s", what, k, err, out)
			}
			_, hv := lookup(d.root, "hosts")
			_, host := lookup(hv, "web2")
			_, tags := lookup(host, "tags")
			if _, v := lookup(tags, k); v == nil || v.Value != "v" {
				t.Fatalf("%s tag %q: not read back as written:\n%s", what, k, out)
			}
		}
		out, err := AddHost([]byte(registryFixture), HostSpec{Name: "web2", Role: "web", Address: "10.0.0.3", Tags: map[string]string{k: "v"}})
		check("add", out, err)
		added, err := AddHost([]byte(registryFixture), HostSpec{Name: "web2", Role: "web", Address: "10.0.0.3"})
		if err != nil {
			t.Fatal(err)
		}
		out, err = UpdateHost(added, HostSpec{Name: "web2", Tags: map[string]string{k: "v"}}) // creates tags:
		check("update (new tags:)", out, err)
		out, err = UpdateHost(out, HostSpec{Name: "web2", Tags: map[string]string{k + "2": "w", k: "v"}}) // appends to tags:
		check("update (existing tags:)", out, err)
	}
	for _, name := range []string{" ", "a: b", "#x"} {
		out, err := AddHost([]byte(registryFixture), HostSpec{Name: name, Role: "web", Address: "10.0.0.3"})
		if err != nil {
			t.Fatal(err)
		}
		d, err := parseSrc(out)
		if err != nil {
			t.Fatalf("host %q: result does not parse: %v\n%s", name, err, out)
		}
		if _, hv := lookup(d.root, "hosts"); hv == nil {
			t.Fatalf("host %q: no hosts:\n%s", name, out)
		} else if k, _ := lookup(hv, name); k == nil {
			t.Fatalf("host %q: not read back:\n%s", name, out)
		}
	}
	if _, err := AddHost([]byte(registryFixture), HostSpec{Name: "web2", Role: "web", Tags: map[string]string{strings.Repeat("k", 2000): "v"}}); err == nil {
		t.Fatal("a 2000-character tag key was written; YAML cannot read it back")
	}
	if _, err := AddHost([]byte(registryFixture), HostSpec{Name: "web2", Role: "web", Tags: map[string]string{"\xff": "v"}}); err == nil {
		t.Fatal("a tag key that is not UTF-8 was written")
	}
}

func TestHostSpecChanges(t *testing.T) {
	s := HostSpec{Name: "web1", Role: "web", Port: 2222, Key: "~/.ssh/k", Tags: map[string]string{"zone": "b", "env": "prod"}, RemoveTags: []string{"old"}}
	got := strings.Join(s.Changes(), ", ")
	if want := "role web, ssh-key ~/.ssh/k, port 2222, tag env=prod, tag zone=b, untag old"; got != want {
		t.Errorf("changes %q, want %q", got, want)
	}
	if c := (HostSpec{Name: "web1"}).Changes(); len(c) != 0 {
		t.Errorf("no change gives %v", c)
	}
}
