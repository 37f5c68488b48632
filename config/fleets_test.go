package config

import (
	"os"
	"strings"
	"testing"
)

const fleetYAML = `cluster:
  name: test
hosts:
  blue-web1:
    role: web
    address: blue-web1.example.com
    fleet: blue
    ssh: {user: deploy, port: 2222}
    tags: {env: prod}
  blue-db1:
    role: db
    address: 10.0.0.2
    fleet: blue
workers:
  web:
    queue: web_q
    tasks: [webmod]
  db:
    queue: db_q
    tasks: [dbmod]
`

func TestFleetsModel(t *testing.T) {
	cfg, diags := load(t, fleetYAML, nil)
	if diags.HasErrors() {
		t.Fatal(diags.Errors())
	}
	if got := cfg.Fleets(); len(got) != 1 || got[0] != "blue" || !cfg.HasFleets() || cfg.FleetOf("blue-db1") != "blue" {
		t.Fatalf("fleets %v", got)
	}
	sel, err := cfg.Select(Selector{All: true, Fleet: "blue"})
	if err != nil || len(sel) != 2 {
		t.Fatalf("select fleet blue: %d hosts, %v", len(sel), err)
	}
	if _, err := cfg.Select(Selector{All: true, Fleet: "green"}); err == nil || !strings.Contains(err.Error(), "unknown fleet \"green\": fleets are blue") {
		t.Fatalf("unknown fleet: %v", err)
	}
	plain, _ := load(t, base, nil)
	if plain.HasFleets() || len(plain.Fleets()) != 0 {
		t.Fatal("a configuration without fleet: has fleets")
	}
	if _, err := plain.Select(Selector{All: true, Fleet: "blue"}); err == nil || !strings.Contains(err.Error(), "has no fleets") {
		t.Fatalf("--cluster without fleets: %v", err)
	}
}

func TestFleetsValidation(t *testing.T) {
	mixed := strings.Replace(fleetYAML, "    fleet: blue\n", "", 2)
	mixed = strings.Replace(mixed, "    address: 10.0.0.2\n", "    address: 10.0.0.2\n    fleet: blue\n", 1)
	_, diags := load(t, mixed, nil)
	if !diags.HasErrors() || !strings.Contains(diags.Errors().Error(), "host blue-web1 belongs to no fleet") {
		t.Fatalf("a host outside every fleet: %v", diags.Errors())
	}
	_, diags = load(t, strings.Replace(fleetYAML, "fleet: blue\n    ssh", "fleet: \"bl ue\"\n    ssh", 1), nil)
	if !diags.HasErrors() || !strings.Contains(diags.Errors().Error(), `fleet name "bl ue" is not valid`) {
		t.Fatalf("bad fleet name: %v", diags.Errors())
	}
}

func TestClone(t *testing.T) {
	cfg, _ := load(t, fleetYAML, nil)
	// The address rule covers the DNS-named host; the IP host needs --hosts.
	if _, err := cfg.Clone(CloneSpec{Name: "green", From: "blue"}); err == nil || !strings.Contains(err.Error(), "no address for green-db1") || !strings.Contains(err.Error(), "--hosts") {
		t.Fatalf("clone without an address: %v", err)
	}
	hosts, err := cfg.Clone(CloneSpec{Name: "green", From: "blue", Addresses: []string{"green-db1=10.0.1.2"}})
	if err != nil {
		t.Fatal(err)
	}
	w := hosts[0]
	if w.Name != "green-web1" || w.Address != "green-web1.example.com" || w.Role != "web" || w.User != "deploy" || w.Port != 2222 || w.Tags["env"] != "prod" || w.Fleet != "green" {
		t.Errorf("clone of blue-web1: %+v", w)
	}
	if d := hosts[1]; d.Name != "green-db1" || d.Address != "10.0.1.2" || d.Fleet != "green" {
		t.Errorf("clone of blue-db1: %+v", d)
	}
	hosts, err = cfg.Clone(CloneSpec{Name: "green", From: "blue", Addresses: []string{"10.0.1.1", "10.0.1.2"}})
	if err != nil || hosts[0].Address != "10.0.1.1" || hosts[1].Address != "10.0.1.2" {
		t.Fatalf("positional addresses: %+v %v", hosts, err)
	}
	for _, c := range []struct {
		spec CloneSpec
		want string
	}{
		{CloneSpec{Name: "blue", From: "blue"}, "fleet blue already exists"},
		{CloneSpec{Name: "green", From: "red"}, `unknown fleet "red"`},
		{CloneSpec{Name: "gr een", From: "blue", Addresses: []string{"a", "b"}}, "not valid"},
		{CloneSpec{Name: "green", From: "blue", Addresses: []string{"a", "b", "c"}}, "gives 3 addresses but fleet blue has 2 hosts"},
		{CloneSpec{Name: "green", From: "blue", Addresses: []string{"a", "b", "nope=c"}}, "has no host nope"},
	} {
		if _, err := cfg.Clone(c.spec); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.spec, err, c.want)
		}
	}
}

// The cloned hosts written by AddHost load back as the new fleet.
func TestCloneWritesAFleet(t *testing.T) {
	cfg, _ := load(t, fleetYAML, nil)
	hosts, err := cfg.Clone(CloneSpec{Name: "green", From: "blue", Addresses: []string{"green-db1=10.0.1.2"}})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(cfg.Source.Path)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		if data, err = AddHost(data, h); err != nil {
			t.Fatal(err)
		}
	}
	got, diags, err := Load(Options{Path: cfg.Source.Path, Content: data})
	if err != nil || diags.HasErrors() {
		t.Fatal(err, diags.Errors())
	}
	if f := got.Fleets(); len(f) != 2 || f[1] != "green" || len(got.FleetHosts("green")) != 2 {
		t.Fatalf("fleets after the clone: %v\n%s", f, data)
	}
}
