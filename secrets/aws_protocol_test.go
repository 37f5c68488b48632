package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/celeroot/celeroot/config"
)

// openAWS is an aws-secrets provider for the server at url, with the keys
// of fakeSecretsManager's AKIDTEST.
func openAWS(t *testing.T, url string) Provider {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "sk-test/+secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	p, err := Open(&config.Config{Secrets: config.Secrets{Provider: "aws-secrets", Region: "eu-west-3", Endpoint: url}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAWSSessionTokenAndBinary(t *testing.T) {
	f := &fakeSecretsManager{t: t, region: "eu-west-3", keys: map[string]string{"AKIDTEST": "sk-test/+secret"},
		secrets: map[string]map[string]map[string]string{"tok": {"v1": {"string": "s", "stage": "AWSCURRENT"}}}}
	var sawToken atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		sawToken.Store(r.Header.Get("X-Amz-Security-Token") == "session-1" && strings.Contains(auth, "x-amz-security-token"))
		if r.Header.Get("Content-Type") != "application/x-amz-json-1.1" || r.URL.Path != "/" {
			t.Errorf("request %s %s", r.Header.Get("Content-Type"), r.URL.Path)
		}
		f.ServeHTTP(w, r)
	}))
	defer srv.Close()
	p := openAWS(t, srv.URL)
	t.Setenv("AWS_SESSION_TOKEN", "session-1")
	if v, err := Lookup(context.Background(), p, Ref{Name: "tok"}); v != "s" || err != nil || !sawToken.Load() {
		t.Errorf("with a session token: %q %v (token signed: %v)", v, err, sawToken.Load())
	}

	bin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"Name": "b", "SecretBinary": []byte(`{"k":"v"}`)}) // base64 in the JSON
	}))
	defer bin.Close()
	if v, err := Lookup(context.Background(), openAWS(t, bin.URL), Ref{Name: "b", Key: "k"}); v != "v" || err != nil {
		t.Errorf("SecretBinary: %q %v", v, err)
	}
}

// TestAWSErrors: the error type from the header or the body, with its
// namespace and detail removed; which errors are sent again.
func TestAWSErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		status   int
		header   string
		body     string
		attempts int32
		is       error
		text     string
	}{
		{"header type", 400, "ResourceNotFoundException:http://internal.amazon.com/coral/com.amazonaws.secrets/", `{"message":"x"}`, 1, ErrNotFound, ""},
		{"body __type", 400, "", `{"__type":"com.amazonaws.secretsmanager#AccessDeniedException","Message":"no"}`, 1, ErrDenied, "AccessDeniedException"},
		{"body code", 400, "", `{"code":"UnrecognizedClientException"}`, 1, ErrDenied, "UnrecognizedClientException"},
		{"throttled", 400, "", `{"__type":"ThrottlingException","message":"Rate exceeded"}`, 2, nil, "ThrottlingException (HTTP 400): Rate exceeded"},
		{"server error", 500, "", `{"__type":"InternalServiceError","message":"boom"}`, 2, nil, "InternalServiceError (HTTP 500): boom"},
		{"not JSON", 502, "", `<html>bad gateway</html>`, 2, nil, "HTTP 502"},
		{"bad request", 400, "", `{"__type":"InvalidRequestException","message":"marked for deletion"}`, 1, nil, "InvalidRequestException (HTTP 400): marked for deletion"},
	} {
		var n atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			if tc.header != "" {
				w.Header().Set("X-Amzn-Errortype", tc.header)
			}
			w.WriteHeader(tc.status)
			w.Write([]byte(tc.body))
		}))
		_, err := Lookup(ctx, openAWS(t, srv.URL), Ref{Name: "x"})
		srv.Close()
		if err == nil || tc.is != nil && !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.text) || n.Load() != tc.attempts {
			t.Errorf("%s: %v after %d attempts", tc.name, err, n.Load())
		}
	}
}

// TestAWSRetry: a 503 then the secret; a signature refused by a server
// whose clock is an hour ahead, then accepted when signed with its time.
func TestAWSRetry(t *testing.T) {
	ctx := context.Background()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`{"SecretString":"ok"}`))
	}))
	defer srv.Close()
	if v, err := Lookup(ctx, openAWS(t, srv.URL), Ref{Name: "x"}); v != "ok" || err != nil || n.Load() != 2 {
		t.Errorf("after a 503: %q %v (%d attempts)", v, err, n.Load())
	}

	ahead := time.Now().Add(time.Hour).UTC()
	var signedAt []string
	skewed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		signedAt = append(signedAt, r.Header.Get("X-Amz-Date"))
		w.Header().Set("Date", ahead.Format(http.TimeFormat))
		at, _ := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
		if at.Sub(ahead).Abs() > time.Minute {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"__type":"InvalidSignatureException","message":"Signature expired"}`))
			return
		}
		w.Write([]byte(`{"SecretString":"ok"}`))
	}))
	defer skewed.Close()
	if v, err := Lookup(ctx, openAWS(t, skewed.URL), Ref{Name: "x"}); v != "ok" || err != nil {
		t.Errorf("clock skew: %q %v (signed at %v)", v, err, signedAt)
	}
}

func TestAWSEndpoint(t *testing.T) {
	for region, want := range map[string]string{
		"eu-west-3":      "https://secretsmanager.eu-west-3.amazonaws.com/",
		"us-gov-west-1":  "https://secretsmanager.us-gov-west-1.amazonaws.com/",
		"cn-north-1":     "https://secretsmanager.cn-north-1.amazonaws.com.cn/",
		"us-isob-east-1": "https://secretsmanager.us-isob-east-1.sc2s.sgov.gov/",
		"eusc-de-east-1": "https://secretsmanager.eusc-de-east-1.amazonaws.eu/",
	} {
		u, err := (&awsProvider{region: region}).url()
		if err != nil || u.String() != want {
			t.Errorf("%s: %v %v", region, u, err)
		}
	}
	if u, err := (&awsProvider{region: "r", endpoint: "https://vpce.example:8443/sm"}).url(); err != nil || u.String() != "https://vpce.example:8443/sm" {
		t.Errorf("endpoint override: %v %v", u, err)
	}
	if _, err := (&awsProvider{region: "r", endpoint: "vpce.example"}).url(); err == nil {
		t.Error("an endpoint without a scheme accepted")
	}
	for v, want := range map[string]awsGetSecretValueInput{
		"":            {SecretId: "s"},
		"AWSPREVIOUS": {SecretId: "s", VersionStage: "AWSPREVIOUS"},
		"MY_STAGE":    {SecretId: "s", VersionStage: "MY_STAGE"},
		"v-1":         {SecretId: "s", VersionId: "v-1"},
		"Stage1":      {SecretId: "s", VersionId: "Stage1"},
	} {
		if got := awsSecretInput("s", v); got != want {
			t.Errorf("@%s: %+v", v, got)
		}
	}
}
