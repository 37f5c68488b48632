package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/celeroot/celeroot/sync/webhook"
)

// The agent mounts the receiver on its server and fetches on each signal.
func Example() {
	rcv, err := webhook.New(webhook.Config{
		Branch: "main",
		GitHub: webhook.NewSecret("s3cr3t"), // webhook.SecretFromFile in the agent
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/hooks/", rcv)
	// srv := webhook.NewServer("127.0.0.1:8080", mux); go srv.ListenAndServe()

	deliver := func(ref string) {
		body := `{"ref":"` + ref + `"}`
		m := hmac.New(sha256.New, []byte("s3cr3t"))
		m.Write([]byte(body))
		req := httptest.NewRequest(http.MethodPost, "/hooks/github", strings.NewReader(body))
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		fmt.Print(w.Code, " ", w.Body.String())
	}
	deliver("refs/heads/main")
	deliver("refs/heads/main")
	deliver("refs/heads/dev")

	// The sync loop: select { case <-rcv.Fetch(): fetch(); case <-ticker.C: poll() }
	select {
	case <-rcv.Fetch():
		fmt.Println("fetch")
	default:
	}
	fmt.Println(rcv.Ledger().Counts()[webhook.OutcomeCoalesced], "coalesced")
	// Output:
	// 202 accepted: fetching main
	// 202 coalesced: a fetch of main is already pending
	// 202 other_branch: push to refs/heads/dev, this agent tracks main: nothing to fetch
	// fetch
	// 1 coalesced
}
