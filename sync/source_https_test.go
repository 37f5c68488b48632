package sync

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSourceHTTPSToken fetches over https from git http-backend, which
// answers only the basic-auth user x-access-token with the right token;
// the token is read from a file at every fetch, so a rotated one is used.
func TestSourceHTTPSToken(t *testing.T) {
	backend, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatalf("git --exec-path: %v (apt-get install git)", err)
	}
	root := t.TempDir()
	r, head := fleetWorkRepo(t)
	r.git("clone", "-q", "--bare", r.dir, filepath.Join(root, "fleet.git"))

	token := "tok-1"
	cgiHandler := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(backend)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if u, p, ok := req.BasicAuth(); !ok || u != "x-access-token" || p != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		cgiHandler.ServeHTTP(w, req)
	}))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	s := newTestSource(t, SourceOptions{URL: srv.URL + "/fleet.git", TokenFile: tokenFile, CAFile: caFile})
	_, err = s.Fetch(context.Background())
	if err == nil || !strings.Contains(err.Error(), "credentials") || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("a wrong token: want a refusal that does not show it, got %v", err)
	}
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := mustFetch(t, s); got != head {
		t.Fatalf("head %s, want %s", got, head)
	}

	t.Setenv("CL_TEST_GIT_TOKEN", token)
	s = newTestSource(t, SourceOptions{URL: srv.URL + "/fleet.git", TokenEnv: "CL_TEST_GIT_TOKEN", CAFile: caFile})
	if got := mustFetch(t, s); got != head {
		t.Fatalf("token from the environment: head %s, want %s", got, head)
	}
}
