package secrets

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/celeroot/celeroot/config"
)

// fakeSecretsManager answers GetSecretValue (the awsJson1_1 protocol:
// POST /, X-Amz-Target) and verifies each request's SigV4 signature with
// its own implementation of the algorithm.
type fakeSecretsManager struct {
	t       *testing.T
	region  string
	keys    map[string]string                       // access key id → secret key
	secrets map[string]map[string]map[string]string // name → version id → {"string": …, "stage": …}
	mu      sync.Mutex
	checked int
}

func (f *fakeSecretsManager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	fail := func(code int, typ, msg string) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-Errortype", typ)
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
	}
	if typ, msg := f.verify(r, body); typ != "" {
		fail(http.StatusForbidden, typ, msg)
		return
	}
	f.mu.Lock()
	f.checked++
	f.mu.Unlock()
	if r.Method != http.MethodPost || r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" {
		fail(http.StatusBadRequest, "UnknownOperationException", "unexpected "+r.Header.Get("X-Amz-Target"))
		return
	}
	var in struct{ SecretId, VersionId, VersionStage string }
	json.Unmarshal(body, &in)
	versions, ok := f.secrets[in.SecretId]
	if !ok {
		fail(http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
		return
	}
	stage := in.VersionStage
	if stage == "" && in.VersionId == "" {
		stage = "AWSCURRENT"
	}
	for id, v := range versions {
		if (in.VersionId == "" || in.VersionId == id) && (stage == "" || v["stage"] == stage) {
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			json.NewEncoder(w).Encode(map[string]any{"ARN": "arn:aws:secretsmanager:" + f.region + ":123456789012:secret:" + in.SecretId,
				"Name": in.SecretId, "VersionId": id, "SecretString": v["string"], "VersionStages": []string{v["stage"]}, "CreatedDate": 1.7e9})
			return
		}
	}
	fail(http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId or VersionStage.")
}

// verify recomputes the AWS Signature Version 4 of r: canonical request,
// string to sign, the derived key (date, region, service, aws4_request),
// HMAC-SHA256. It returns the AWS error type on a mismatch.
func (f *fakeSecretsManager) verify(r *http.Request, body []byte) (string, string) {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return "MissingAuthenticationTokenException", "no SigV4 Authorization header"
	}
	parts := map[string]string{}
	for _, kv := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		parts[k] = v
	}
	cred := strings.Split(parts["Credential"], "/")
	if len(cred) != 5 || cred[2] != f.region || cred[3] != "secretsmanager" || cred[4] != "aws4_request" {
		return "InvalidSignatureException", "bad credential scope " + parts["Credential"]
	}
	secret, ok := f.keys[cred[0]]
	if !ok {
		return "UnrecognizedClientException", "The security token included in the request is invalid."
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if !strings.HasPrefix(amzDate, cred[1]) {
		return "InvalidSignatureException", "date mismatch"
	}
	signed := strings.Split(parts["SignedHeaders"], ";")
	if !sort.StringsAreSorted(signed) || !contains(signed, "host") || !contains(signed, "x-amz-date") {
		return "InvalidSignatureException", "signed headers " + parts["SignedHeaders"]
	}
	var canon bytes.Buffer
	canon.WriteString(r.Method + "\n")
	uri := r.URL.EscapedPath()
	if uri == "" {
		uri = "/"
	}
	canon.WriteString(uri + "\n")
	canon.WriteString(r.URL.Query().Encode() + "\n")
	for _, h := range signed {
		var v string
		switch h {
		case "host":
			v = r.Host
		case "content-length":
			v = r.Header.Get("Content-Length")
			if v == "" {
				v = strconv.Itoa(len(body))
			}
		default:
			v = strings.Join(r.Header.Values(http.CanonicalHeaderKey(h)), ",")
		}
		canon.WriteString(h + ":" + strings.Join(strings.Fields(v), " ") + "\n")
	}
	canon.WriteString("\n" + parts["SignedHeaders"] + "\n")
	sum := sha256.Sum256(body)
	canon.WriteString(hex.EncodeToString(sum[:]))
	creq := sha256.Sum256(canon.Bytes())
	scope := strings.Join(cred[1:], "/")
	sts := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(creq[:])
	mac := func(key []byte, s string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(s))
		return h.Sum(nil)
	}
	k := mac([]byte("AWS4"+secret), cred[1])
	k = mac(k, cred[2])
	k = mac(k, cred[3])
	k = mac(k, "aws4_request")
	want := hex.EncodeToString(mac(k, sts))
	if !hmac.Equal([]byte(want), []byte(parts["Signature"])) {
		return "InvalidSignatureException", "The request signature we calculated does not match the signature you provided."
	}
	return "", ""
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func TestAWSSecretsManager(t *testing.T) {
	ctx := context.Background()
	f := &fakeSecretsManager{t: t, region: "eu-west-3", keys: map[string]string{"AKIDTEST": "sk-test/+secret"},
		secrets: map[string]map[string]map[string]string{
			"celeroot/prod/db": {
				"v-old": {"string": `{"password":"old-aws-pw"}`, "stage": "AWSPREVIOUS"},
				"v-new": {"string": `{"password":"new-aws-pw","user":"app"}`, "stage": "AWSCURRENT"},
			},
			"celeroot/prod/token": {"v1": {"string": "plain-token", "stage": "AWSCURRENT"}},
		}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SESSION_TOKEN", "")
	dir := t.TempDir()
	writeFile(t, dir+"/aws.key", "sk-test/+secret\n")
	cfg := &config.Config{Secrets: config.Secrets{Provider: "aws-secrets", Region: "eu-west-3", Endpoint: srv.URL, Path: "celeroot/prod", SecretFile: dir + "/aws.key"}}
	p, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ref  Ref
		want string
	}{
		{Ref{Name: "db", Key: "password"}, "new-aws-pw"},
		{Ref{Name: "db", Key: "user"}, "app"},
		{Ref{Name: "db", Key: "password", Version: "AWSPREVIOUS"}, "old-aws-pw"},
		{Ref{Name: "db", Key: "password", Version: "v-old"}, "old-aws-pw"},
		{Ref{Name: "token"}, "plain-token"},
	} {
		if v, err := Lookup(ctx, p, tc.ref); v != tc.want || err != nil {
			t.Errorf("%s = %q, %v; want %q", tc.ref.Label(), v, err, tc.want)
		}
	}
	if f.checked != 5 {
		t.Errorf("%d signatures checked", f.checked)
	}
	if _, err := Lookup(ctx, p, Ref{Name: "nope"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing: %v", err)
	}
	// A wrong secret key: the fake's signature differs.
	writeFile(t, dir+"/aws.key", "not-the-key\n")
	if _, err := Lookup(ctx, p, Ref{Name: "token"}); !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "InvalidSignatureException") || strings.Contains(err.Error(), "not-the-key") {
		t.Errorf("wrong key: %v", err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	if _, err := Lookup(ctx, p, Ref{Name: "token"}); err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Errorf("no key id: %v", err)
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := writeAtomic(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
