package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/queue/queuetest"
)

func TestChooseWorkerSource(t *testing.T) {
	target := t.TempDir()
	rel := filepath.Join(target, "releases", "9f1c2ab")
	writeWorkerFile(t, filepath.Join(rel, "bin", "cl"), "")
	writeWorkerFile(t, filepath.Join(rel, "cl.yaml"), "cluster: {name: x}\n")
	if err := os.Symlink(rel, filepath.Join(target, "current")); err != nil {
		t.Fatal(err)
	}
	noConfig := filepath.Join(target, "releases", "0000000")
	writeWorkerFile(t, filepath.Join(noConfig, "bin", "cl"), "")
	elsewhere := filepath.Join(t.TempDir(), "usr", "bin", "cl")
	writeWorkerFile(t, elsewhere, "")
	writeWorkerFile(t, filepath.Join(filepath.Dir(filepath.Dir(elsewhere)), "cl.yaml"), "")

	cases := []struct {
		name  string
		given bool
		exe   string
		want  workerSource
	}{
		{"release", false, filepath.Join(rel, "bin", "cl"), workerSource{filepath.Join(rel, "cl.yaml"), rel, "9f1c2ab"}},
		{"through current", false, filepath.Join(target, "current", "bin", "cl"), workerSource{filepath.Join(rel, "cl.yaml"), rel, "9f1c2ab"}},
		{"-c given", true, filepath.Join(rel, "bin", "cl"), workerSource{"cl.yaml", "", "dev"}},
		{"release without cl.yaml", false, filepath.Join(noConfig, "bin", "cl"), workerSource{"cl.yaml", "", "dev"}},
		{"not a release", false, elsewhere, workerSource{"cl.yaml", "", "dev"}},
		{"unknown executable", false, "", workerSource{"cl.yaml", "", "dev"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := chooseWorkerSource("cl.yaml", c.given, c.exe); got != c.want {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestConfigGiven(t *testing.T) {
	t.Setenv("CL_CONFIG", "")
	for _, c := range []struct {
		args  []string
		given bool
	}{
		{[]string{"worker", "--host", "h1"}, false},
		{[]string{"-c", "x.yaml", "worker", "--host", "h1"}, true},
		{[]string{"worker", "--config=x.yaml", "--host", "h1"}, true},
	} {
		var cli CLI
		parser, err := newParser(&cli, io.Discard, io.Discard, func(int) {})
		if err != nil {
			t.Fatal(err)
		}
		kctx, err := parser.Parse(c.args)
		if err != nil {
			t.Fatal(err)
		}
		if got := configGiven(kctx); got != c.given {
			t.Errorf("%q: configGiven = %v, want %v", c.args, got, c.given)
		}
	}
}

func TestWorkerCommandUnknownHost(t *testing.T) {
	redis := queuetest.StartRedis(t)
	path := initProject(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data = []byte(strings.Replace(string(data), "redis://127.0.0.1:6379/0", redis.URL(), 1))
	writeWorkerFile(t, path, string(data))
	_, stderr, code := cl(t, "-c", path, "worker", "--host", "nosuch", "--health-addr", "-")
	if code != ExitError || !strings.Contains(stderr, `"nosuch"`) || !strings.Contains(stderr, "--host") {
		t.Errorf("unknown host: exit %d, stderr %s", code, stderr)
	}
}

func writeWorkerFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestApplyWorkerCredentials(t *testing.T) {
	rel := t.TempDir()
	src := workerSource{ConfigPath: filepath.Join(rel, "cl.yaml"), ReleaseDir: rel, SHA: "9f1c2ab"}
	cfg := &config.Config{}
	cfg.Redis.URL = "redis://h:1/0"
	if err := applyWorkerCredentials(cfg, src); err != nil || cfg.Redis.URL != "redis://h:1/0" {
		t.Fatalf("without a credentials file: %v, %q", err, cfg.Redis.URL)
	}
	os.MkdirAll(filepath.Join(rel, ".celeroot"), 0o700)
	creds := config.WorkerCredentials{Env: "prod", RedisURL: "redis://:pw@h:1/0"}
	os.WriteFile(filepath.Join(rel, config.CredentialsPath), creds.Encode(), 0o600)
	if err := applyWorkerCredentials(cfg, src); err == nil || !strings.Contains(err.Error(), "--env") {
		t.Errorf("credentials of another env: %v", err)
	}
	cfg.Source.Env = "prod"
	if err := applyWorkerCredentials(cfg, src); err != nil || cfg.Redis.URL != creds.RedisURL {
		t.Errorf("with credentials: %v, %q", err, cfg.Redis.URL)
	}
	cfg.Redis.URL = "redis://h:1/0"
	if err := applyWorkerCredentials(cfg, workerSource{ConfigPath: "cl.yaml", SHA: "dev"}); err != nil || cfg.Redis.URL != "redis://h:1/0" {
		t.Errorf("outside a release: %v, %q", err, cfg.Redis.URL)
	}
}
