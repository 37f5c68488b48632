package config

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// TestSeedExampleValidates loads the seed's example cl.yaml verbatim against
// the example task modules in examples/fleet/tasks.
func TestSeedExampleValidates(t *testing.T) {
	dir := t.TempDir()
	seed, err := os.ReadFile("testdata/seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "cl.yaml"), seed, 0o644)
	tasks, _ := filepath.Abs("../examples/fleet/tasks")
	if err := os.Symlink(tasks, filepath.Join(dir, "tasks")); err != nil {
		t.Fatal(err)
	}
	cfg, diags, err := Load(Options{Path: filepath.Join(dir, "cl.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	if len(diags) > 0 {
		t.Fatalf("seed example does not validate:\n%v", diags)
	}
	if got := strings.Join(cfg.Hosts.Keys(), ","); got != "webserver01,webserver02,dbserver01" {
		t.Errorf("hosts in file order: %s", got)
	}
	h, _ := cfg.Hosts.Get("webserver02")
	if cn := cfg.ConnFor(h); cn.User != "ubuntu" || cn.Port != 2222 || cn.Key != "~/.ssh/celeroot_rsa" {
		t.Errorf("webserver02 connection: %+v", cn)
	}
	if cfg.SSH.Timeout.D() != 30*time.Second || cfg.Monitoring.HealthCheckInterval.D() != 300*time.Second {
		t.Errorf("integer seconds not read as durations: %v %v", cfg.SSH.Timeout, cfg.Monitoring.HealthCheckInterval)
	}
	s, _ := cfg.Schedules.Get("backup_databases")
	if hosts := cfg.TargetHosts(s.Targets); len(hosts) != 1 || hosts[0].Name != "dbserver01" {
		t.Errorf("backup_databases targets %v", hosts)
	}
}

func TestExampleFleetValidates(t *testing.T) {
	for _, env := range []string{"", "dev"} {
		_, diags, err := Load(Options{Path: "../examples/fleet/cl.yaml", Env: env})
		if err != nil {
			t.Fatal(err)
		}
		if len(diags) > 0 {
			t.Fatalf("examples/fleet (env %q) does not validate:\n%v", env, diags)
		}
	}
}

func TestInitSkeletonValidates(t *testing.T) {
	dir := t.TempDir()
	files, err := Init(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("init wrote %v", files)
	}
	for _, env := range []string{"", "staging", "dev"} {
		if _, diags, err := Load(Options{Path: filepath.Join(dir, "cl.yaml"), Env: env}); err != nil || len(diags) > 0 {
			t.Fatalf("skeleton (env %q) invalid: %v %v", env, err, diags)
		}
	}
	if _, err := Init(dir, false); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second init did not refuse: %v", err)
	}
	if _, err := Init(dir, true); err != nil {
		t.Fatalf("init --force: %v", err)
	}
}

func TestDefaults(t *testing.T) {
	cfg, diags := load(t, "hosts:\n  h1: {role: r}\nworkers:\n  r: {}\nschedules:\n  s: {cron: '@daily', task: ping, targets: [{role: r}]}\n", nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	h, _ := cfg.Hosts.Get("h1")
	w, _ := cfg.Workers.Get("r")
	s, _ := cfg.Schedules.Get("s")
	checks := map[string][2]any{
		"address = name":      {h.Address, "h1"},
		"queue = role":        {w.Queue, "r"},
		"concurrency":         {w.Concurrency, DefaultConcurrency},
		"port":                {cfg.ConnFor(h).Port, 22},
		"known_hosts":         {cfg.SSH.KnownHosts, DefaultKnownHosts},
		"host_key_policy":     {cfg.SSH.HostKeyPolicy, "strict"},
		"keep_releases":       {cfg.Deployment.KeepReleases, 5},
		"timezone":            {s.Timezone, "UTC"},
		"enabled":             {s.IsEnabled(), true},
		"catchup":             {s.Catchup, "once"},
		"redis url":           {cfg.Redis.URL, DefaultRedisURL},
		"task ttl":            {cfg.Redis.TaskTTL.D(), 24 * time.Hour},
		"health_check_url":    {cfg.Deployment.HealthCheckURL, DefaultHealthCheckURL},
		"deployment.strategy": {cfg.Deployment.Strategy, "rolling"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s: got %v, want %v", name, c[0], c[1])
		}
	}
}

func TestOverlay(t *testing.T) {
	files := map[string]string{
		"environments/staging.yaml": `cluster:
  name: staging
hosts:
  web1:
    address: 192.168.1.1
    tags: {env: staging}
  db1: null
  web9:
    role: web
workers:
  web:
    tasks: [webmod, dbmod]
`,
	}
	for k, v := range testModules {
		files[k] = v
	}
	path := writeProject(t, base, files)
	cfg, diags, err := Load(Options{Path: path, Env: "staging"})
	if err != nil || diags.HasErrors() {
		t.Fatalf("%v %v", err, diags)
	}
	web1, _ := cfg.Hosts.Get("web1")
	if cfg.Cluster.Name != "staging" || web1.Address != "192.168.1.1" || web1.Role != "web" {
		t.Errorf("mapping merge: cluster %q web1 %+v", cfg.Cluster.Name, web1)
	}
	if web1.Tags["env"] != "staging" {
		t.Errorf("nested map merge: %v", web1.Tags)
	}
	if _, ok := cfg.Hosts.Get("db1"); ok {
		t.Error("null did not remove db1")
	}
	if got := strings.Join(cfg.Hosts.Keys(), ","); got != "web1,web9" {
		t.Errorf("host order after overlay: %s", got)
	}
	w, _ := cfg.Workers.Get("web")
	if strings.Join(w.Tasks, ",") != "webmod,dbmod" || w.Queue != "web_q" {
		t.Errorf("list replace / map merge: %+v", w)
	}
}

func TestOverlayErrorsPointIntoOverlay(t *testing.T) {
	files := map[string]string{"environments/bad.yaml": "hosts:\n  web1:\n    role: nosuch\n    colour: red\n"}
	for k, v := range testModules {
		files[k] = v
	}
	path := writeProject(t, base, files)
	_, diags, err := Load(Options{Path: path, Env: "bad"})
	if err != nil {
		t.Fatal(err)
	}
	if len(diags.Errors()) != 2 {
		t.Fatalf("want 2 errors, got:\n%v", diags)
	}
	for _, d := range diags {
		if !strings.HasSuffix(d.File, "environments/bad.yaml") {
			t.Errorf("diagnostic not in the overlay: %s", d)
		}
	}
	if _, _, err := Load(Options{Path: path, Env: "prod"}); err == nil || !strings.Contains(err.Error(), "environments/prod.yaml does not exist") {
		t.Errorf("missing overlay: %v", err)
	}
	if _, _, err := Load(Options{Path: path, Env: "../x"}); err == nil {
		t.Error("path-like env name accepted")
	}
}

func TestMissingFile(t *testing.T) {
	_, _, err := Load(Options{Path: filepath.Join(t.TempDir(), "cl.yaml")})
	if err == nil || !strings.Contains(err.Error(), "cl config init") {
		t.Fatalf("want a hint to run cl config init, got %v", err)
	}
}

// TestHostileInput: every case fails fast with an error, no panic, no hang.
func TestHostileInput(t *testing.T) {
	bomb := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for i, prev := 0, "a"; i < 12; i++ {
		name := string(rune('b' + i))
		bomb += name + ": &" + name + " [*" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n"
		prev = name
	}
	bomb += "cluster:\n  <<: {name: x}\nschedules:\n  s:\n    params: {p: *m}\n"
	cases := map[string]struct {
		data string
		want string
	}{
		"alias bomb":  {bomb, "too large or too deeply nested"},
		"binary":      {"\x00\x01\x02garbage", "not UTF-8 text"},
		"invalid utf": {"cluster:\n  name: \xff\xfe\n", "not UTF-8 text"},
		"huge":        {"# " + strings.Repeat("x", maxFileSize+10) + "\n", "larger than"},
		"syntax":      {"cluster:\n  name: [unclosed\n", "invalid YAML"},
		"tabs":        {"cluster:\n\tname: x\n", "invalid YAML"},
		"scalar root": {"just a string\n", "top level must be a mapping"},
		"deep":        {strings.Repeat("[", 500) + strings.Repeat("]", 500) + "\n", ""},
		"two docs":    {"cluster: {name: a}\n---\ncluster: {name: b}\n", "more than one YAML document"},
		"empty":       {"", "file is empty"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			_, diags := load(t, c.data, map[string]string{})
			if !diags.HasErrors() {
				t.Fatalf("accepted hostile input")
			}
			if c.want != "" && !strings.Contains(diags.Error(), c.want) {
				t.Errorf("want %q in:\n%v", c.want, diags)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

// TestGoldenErrors renders a file with many mistakes as text and as JSON;
// regenerate with `go test ./config -run TestGoldenErrors -update`.
func TestGoldenErrors(t *testing.T) {
	src, err := os.ReadFile("testdata/errors/cl.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for k, v := range testModules {
		files[k] = v
	}
	path := writeProject(t, string(src), files)
	_, diags, err := Load(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	for i := range diags {
		diags[i].File = "cl.yaml"
	}
	text := diags.Error() + "\n"
	js, _ := json.MarshalIndent(diags, "", "  ")
	golden(t, "testdata/errors/want.txt", text)
	golden(t, "testdata/errors/want.json", string(js)+"\n")
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (run `go test ./config -run TestGolden -update` if the change is intended):\ngot:\n%s", path, got)
	}
}

// TestInitWithNameAndRedis: InitWith sets cluster.name and redis.url,
// keeping the skeleton's comments, and the result validates.
func TestInitWithNameAndRedis(t *testing.T) {
	dir := t.TempDir()
	if _, err := InitWith(dir, InitOptions{Name: "shop", RedisURL: "redis://10.0.0.5:6380/2"}); err != nil {
		t.Fatal(err)
	}
	for env, name := range map[string]string{"": "shop", "dev": "shop", "staging": "shop-staging"} {
		cfg, diags, err := Load(Options{Path: filepath.Join(dir, "cl.yaml"), Env: env})
		if err != nil || len(diags) > 0 {
			t.Fatalf("env %q: %v %v", env, err, diags)
		}
		if cfg.Cluster.Name != name || (env != "staging" && cfg.Redis.URL != "redis://10.0.0.5:6380/2") {
			t.Errorf("env %q: name %q, url %q", env, cfg.Cluster.Name, cfg.Redis.URL)
		}
	}
	data, _ := os.ReadFile(filepath.Join(dir, "cl.yaml"))
	if !strings.Contains(string(data), "name: shop            # names this cluster's keys in Redis") {
		t.Errorf("comment lost:\n%s", data)
	}
}
