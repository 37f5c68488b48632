package secrets

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/celeroot/celeroot/config"
)

func TestEnvAndFileProviders(t *testing.T) {
	ctx := context.Background()
	t.Setenv("APP_DB_PASSWORD", "envpw")
	t.Setenv("APP_JSON", `{"user":"u","port":5432}`)
	p, err := Open(&config.Config{Secrets: config.Secrets{Provider: "env", Path: "APP_"}})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := Lookup(ctx, p, Ref{Name: "DB_PASSWORD"}); v != "envpw" || err != nil {
		t.Errorf("env: %q %v", v, err)
	}
	if v, err := Lookup(ctx, p, Ref{Name: "JSON", Key: "port"}); v != "5432" || err != nil {
		t.Errorf("env json key: %q %v", v, err)
	}
	if _, err := Lookup(ctx, p, Ref{Name: "NOPE"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("env missing: %v", err)
	}
	if _, err := Lookup(ctx, p, Ref{Name: "DB_PASSWORD", Version: "2"}); err == nil {
		t.Error("env version accepted")
	}

	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "db"), 0o700)
	os.WriteFile(filepath.Join(dir, "db", "prod"), []byte("password: filepw\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "token"), []byte("tokvalue\n"), 0o600)
	outside := filepath.Join(t.TempDir(), "outside")
	os.WriteFile(outside, []byte("nope"), 0o600)
	os.Symlink(outside, filepath.Join(dir, "link"))
	p, err = Open(&config.Config{Secrets: config.Secrets{Provider: "file", Path: dir}})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := Lookup(ctx, p, Ref{Name: "db/prod", Key: "password"}); v != "filepw" || err != nil {
		t.Errorf("file key: %q %v", v, err)
	}
	if v, err := Lookup(ctx, p, Ref{Name: "token"}); v != "tokvalue" || err != nil {
		t.Errorf("file: %q %v", v, err)
	}
	if _, err := Lookup(ctx, p, Ref{Name: "token", Key: "x"}); err == nil || strings.Contains(err.Error(), "tokvalue") {
		t.Errorf("key of a plain value: %v", err)
	}
	if _, err := Lookup(ctx, p, Ref{Name: "link"}); err == nil {
		t.Error("followed a symbolic link out of the secrets directory")
	}
}

func TestResolveRun(t *testing.T) {
	t.Setenv("S_A", "alpha-secret")
	t.Setenv("S_B", `{"k":"beta-secret"}`)
	p, _ := Open(&config.Config{Secrets: config.Secrets{Provider: "env", Path: "S_"}})
	params := map[string]any{"a": "x=${secret:A}", "n": 3, "lit": "$${secret:A}"}
	env := map[string]string{"B": "${secret:B#k}", "C": "plain"}
	r, err := ResolveRun(context.Background(), p, params, env)
	if err != nil {
		t.Fatal(err)
	}
	if r.Params["a"] != "x=alpha-secret" || r.Params["n"] != 3 || r.Params["lit"] != "${secret:A}" || r.Env["B"] != "beta-secret" || r.Env["C"] != "plain" {
		t.Errorf("resolved %+v %+v", r.Params, r.Env)
	}
	if params["a"] != "x=${secret:A}" {
		t.Error("input params modified")
	}
	if strings.Join(r.Names, ",") != "A,B#k" {
		t.Errorf("names %v", r.Names)
	}
	if got := r.Masker.String("alpha-secret beta-secret"); got != "*** ***" {
		t.Errorf("mask %q", got)
	}
	if _, err := ResolveRun(context.Background(), nil, params, nil); err == nil || !strings.Contains(err.Error(), "secrets.provider") {
		t.Errorf("no provider: %v", err)
	}
	if _, err := ResolveRun(context.Background(), p, map[string]any{"a": "${secret:MISSING}"}, nil); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "param a") {
		t.Errorf("missing: %v", err)
	}
}
