package dispatch_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/dispatch"
	"github.com/celeroot/celeroot/queue"
)

func fleet(t *testing.T) *config.Config {
	t.Helper()
	cfg, _, err := config.LoadValid(config.Options{Path: "../examples/fleet/cl.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestResolve(t *testing.T) {
	cfg := fleet(t)
	sp, err := dispatch.Resolve(cfg, "webserver", "check_expiry", map[string]any{"days": "7"})
	if err != nil {
		t.Fatal(err)
	}
	if sp.Task != "check_expiry" || sp.Module != "ssl_management" || sp.Params["days"] != 7 || sp.RoleQueue != "role:webserver_tasks" ||
		sp.Timeout <= 0 || sp.Def == nil {
		t.Fatalf("spec: %+v", sp)
	}
	if sp.Def.Timeout == 0 && sp.Timeout != config.DefaultTaskTimeout.D() {
		t.Fatalf("a task without a timeout gets the default: %v", sp.Timeout)
	}
	if r := sp.Run("host:webserver01"); r.Target != "host:webserver01" || r.Task != "check_expiry" || r.Timeout != sp.Timeout {
		t.Fatalf("run: %+v", r)
	}
	ping, err := dispatch.Resolve(cfg, "database", "ping", nil)
	if err != nil || ping.Timeout != ping.Def.Timeout.D() || ping.RoleQueue != "role:database_tasks" {
		t.Fatalf("ping: %+v %v (want the built-in's timeout)", ping, err)
	}

	var noRole *config.ErrNoRole
	if _, err := dispatch.Resolve(cfg, "nosuch", "ping", nil); !errors.As(err, &noRole) || noRole.Role != "nosuch" {
		t.Fatalf("unknown role: %v", err)
	}
	if _, err := dispatch.Resolve(cfg, "webserver", "backup_databases", nil); err == nil || !strings.Contains(err.Error(), "backup_databases") {
		t.Fatalf("task of a module the role does not load: %v", err)
	}
	var pe *dispatch.ParamsError
	_, err = dispatch.Resolve(cfg, "webserver", "check_expiry", map[string]any{"days": "soon", "x": "1"})
	if !errors.As(err, &pe) || len(pe.Errs) != 2 || pe.Task.Name != "check_expiry" || !strings.Contains(err.Error(), "; ") {
		t.Fatalf("bad params: %v", err)
	}
}

func TestPlan(t *testing.T) {
	cfg := fleet(t)
	subs, err := dispatch.Plan(cfg, dispatch.Request{Task: "ping", Select: config.Selector{All: true}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range subs {
		got = append(got, s.Label()+"="+s.Queue+"/"+s.Role)
	}
	want := []string{"webserver01=host:webserver01/webserver", "webserver02=host:webserver02/webserver", "dbserver01=host:dbserver01/database"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("plan --all: %v, want %v", got, want)
	}
	subs, err = dispatch.Plan(cfg, dispatch.Request{Task: "ping", Select: config.Selector{Role: "webserver"}, Any: true})
	if err != nil || len(subs) != 1 || subs[0].Host != "" || subs[0].Label() != "role:webserver_tasks" {
		t.Fatalf("plan --any: %+v %v", subs, err)
	}
	if _, err := dispatch.Plan(cfg, dispatch.Request{Task: "ping", Select: config.Selector{Tags: map[string]string{"x": "y"}}}); !errors.Is(err, dispatch.ErrNoHost) {
		t.Fatalf("empty selection: %v", err)
	}
	if _, err := dispatch.Plan(cfg, dispatch.Request{Task: "ping", Select: config.Selector{All: true}, Any: true}); err == nil {
		t.Fatal("any without a role selection was planned")
	}
	var re *dispatch.RoleError
	_, err = dispatch.Plan(cfg, dispatch.Request{Task: "backup_databases", Select: config.Selector{All: true}})
	if !errors.As(err, &re) || re.Role != "webserver" || !reflect.DeepEqual(re.Hosts, []string{"webserver01", "webserver02"}) ||
		!strings.HasPrefix(err.Error(), "task backup_databases on role webserver (webserver01, webserver02): ") {
		t.Fatalf("role error: %v", err)
	}
}

// fakeWorkers lists fixed heartbeats (Unserved only reads them).
type fakeWorkers []queue.Heartbeat

func (f fakeWorkers) Workers(context.Context) ([]queue.Heartbeat, error) { return f, nil }

func TestUnserved(t *testing.T) {
	subs := []*dispatch.Submission{
		{Host: "web1", Role: "web", Queue: queue.HostQueue("web1")},
		{Host: "web2", Role: "web", Queue: queue.HostQueue("web2")},
		{Role: "web", Queue: queue.RoleQueue("web_tasks")},
		{Role: "db", Queue: queue.RoleQueue("db_tasks")},
	}
	got, err := dispatch.Unserved(context.Background(), fakeWorkers{{Host: "web1", Role: "web", Time: time.Now()}}, subs)
	if err != nil || !reflect.DeepEqual(got, []int{1, 3}) {
		t.Fatalf("unserved: %v %v, want [1 3] (web2 has no worker, nor role db)", got, err)
	}
}

// TestResolveRefusesMalformedSecretReference: a ${secret:…} that does not
// parse is refused before it is enqueued; a well-formed one is kept as
// written (the worker resolves it).
func TestResolveRefusesMalformedSecretReference(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"cl.yaml":      "cluster:\n  name: s\nhosts:\n  h1:\n    role: app\n    address: 127.0.0.1\nworkers:\n  app:\n    tasks: [m]\n",
		"tasks/m.yaml": "tasks:\n  t:\n    params:\n      token: {type: string, required: true}\n    command: [\"/bin/true\"]\n",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, _, err := config.LoadValid(config.Options{Path: filepath.Join(dir, "cl.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	sp, err := dispatch.Resolve(cfg, "app", "m.t", map[string]any{"token": "${secret:api#token}"})
	if err != nil || sp.Params["token"] != "${secret:api#token}" {
		t.Fatalf("well-formed reference: %v %+v", err, sp)
	}
	_, err = dispatch.Resolve(cfg, "app", "m.t", map[string]any{"token": "${secret:api$(id)}"})
	if err == nil || !strings.Contains(err.Error(), "bad secret reference") || !strings.Contains(err.Error(), "param token") {
		t.Fatalf("malformed reference: %v", err)
	}
}
