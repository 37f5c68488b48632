package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/celeroot/celeroot/audit"
	"github.com/celeroot/celeroot/queue"
)

// devStatus is the part of the agent's /api/v1/status the test reads.
type devStatus struct {
	Head      string `json:"head_sha"`
	Applied   string `json:"applied_sha"`
	PlanError string `json:"plan_error"`
	LastApply *struct {
		SHA   string                     `json:"sha"`
		Hosts map[string]json.RawMessage `json:"hosts"`
	} `json:"last_apply"`
}

// TestDevAppliesCommits starts cl dev on a copy of examples/fleet, commits
// a change to one task module in the dev repository and sees only the
// hosts whose role loads it move to the new SHA (their heartbeats), the
// status report it, and an invalid commit reported with nothing applied.
func TestDevAppliesCommits(t *testing.T) {
	t.Parallel()
	bin := clBinary(t)
	path, addr := devFleet(t)
	state := t.TempDir()
	cmd := exec.Command(bin, "-c", path, "--env", "dev", "-o", "json", "dev", "--grace", "1s", "--state-dir", state)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var info struct {
		Repo      string
		Head      string `json:"head_sha"`
		Applied   string `json:"applied_sha"`
		StatusURL string `json:"status_url"`
		Workers   []struct{ Host, SHA string }
	}
	decoded := make(chan error, 1)
	go func() { decoded <- json.NewDecoder(stdout).Decode(&info) }()
	select {
	case err := <-decoded:
		if err != nil {
			t.Fatalf("cl dev -o json: %v\n%s", err, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("cl dev printed nothing within 60s\n%s", stderr.String())
	}
	first := info.Head
	if info.Repo != filepath.Join(state, "repo") || len(first) != 40 || info.Applied != first || len(info.Workers) != 3 ||
		!strings.HasPrefix(info.StatusURL, "http://127.0.0.1:") {
		t.Fatalf("cl dev -o json: want the new repo's head applied to 3 workers, the status URL on loopback; got %+v", info)
	}
	for _, w := range info.Workers {
		if w.SHA != first {
			t.Fatalf("worker %s runs %q, want %s", w.Host, w.SHA, first)
		}
	}

	q, err := queue.Open(context.Background(), "redis://"+addr+"/0", queue.Namespace{Cluster: "dev", Env: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	repo := &devRepo{t: t, dir: info.Repo}

	// A task file that only the database role loads: dbserver01 moves,
	// the web servers stay.
	script := filepath.Join(info.Repo, "tasks", "mysql_management", "status.sh")
	data, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, append(data, []byte("\n# changed by the test\n")...), 0o755); err != nil {
		t.Fatal(err)
	}
	second := repo.commit("mysql status: a comment")
	want := map[string]string{"dbserver01": second, "webserver01": first, "webserver02": first}
	st := waitStatus(t, info.StatusURL, &stderr, func(s devStatus) bool { return s.Applied == second })
	if st.LastApply == nil || st.LastApply.SHA != second || len(st.LastApply.Hosts) != 1 || st.LastApply.Hosts["dbserver01"] == nil {
		t.Fatalf("status after the commit: want an apply of %s to dbserver01 only, got %+v", second, st.LastApply)
	}
	checkHeartbeats(t, q, want)
	checkDevAudited(t, q, second)

	// An invalid commit: reported, nothing applied.
	cfgPath := filepath.Join(info.Repo, "cl.yaml")
	data, _ = os.ReadFile(cfgPath)
	os.WriteFile(cfgPath, append(data, []byte("\nnot_a_key: 1\n")...), 0o644)
	third := repo.commit("an unknown key")
	st = waitStatus(t, info.StatusURL, &stderr, func(s devStatus) bool { return s.Head == third && s.PlanError != "" })
	if st.Applied != second || !strings.Contains(st.PlanError, third[:7]+" not applied") || !strings.Contains(st.PlanError, "not_a_key") {
		t.Fatalf("status after an invalid commit: want %s applied and the error naming %s and not_a_key, got %+v", second[:7], third[:7], st)
	}
	checkHeartbeats(t, q, want)

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
}

// checkDevAudited: cl dev's agent appends its applies to the audit trail
// as cl agent does (agent.apply, the commit's author, the SHA).
func checkDevAudited(t *testing.T, q *queue.Queue, sha string) {
	t.Helper()
	recs, err := (&audit.Trail{Store: q}).Records(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Action == "agent.apply" && r.SHA == sha && r.Actor.Via == "agent" && r.Actor.Author == "t <t@t>" && r.Result == audit.ResultOK {
			return
		}
	}
	t.Errorf("no agent.apply record of %s by t <t@t> in the audit trail: %+v", sha, recs)
}

// devRepo commits in the dev repository with the git command line, as a
// user would.
type devRepo struct {
	t   *testing.T
	dir string
}

func (r *devRepo) commit(msg string) string {
	r.t.Helper()
	run := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = r.dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		out, err := cmd.CombinedOutput()
		if err != nil {
			r.t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("commit", "-q", "-am", msg)
	return run("rev-parse", "HEAD")
}

// waitStatus polls the agent's status until ok (up to 30 s).
func waitStatus(t *testing.T, url string, log *strings.Builder, ok func(devStatus) bool) devStatus {
	t.Helper()
	var st devStatus
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := getBody(url)
		if err == nil {
			st = devStatus{}
			if err := json.Unmarshal(out, &st); err != nil {
				t.Fatalf("status: %v\n%s", err, out)
			}
			if ok(st) {
				return st
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("status did not get there within 30s: %+v (%v)\n%s", st, err, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkHeartbeats checks the release each host's worker heartbeats.
func checkHeartbeats(t *testing.T, q *queue.Queue, want map[string]string) {
	t.Helper()
	for host, sha := range want {
		hb, ok, err := q.Worker(context.Background(), host)
		if err != nil || !ok || hb.SHA != sha {
			t.Errorf("%s heartbeats %q (%v, %v), want %s", host, hb.SHA, ok, err, sha)
		}
	}
}

func getBody(url string) ([]byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(resp.Body)
}
