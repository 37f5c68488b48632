package webhook

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecretFromFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, path, want, wantErr string
	}{
		{"trailing newline dropped", write("nl", testSecret+"\n"), testSecret, ""},
		{"CRLF dropped", write("crlf", testSecret+"\r\n"), testSecret, ""},
		{"no newline", write("plain", testSecret), testSecret, ""},
		{"inner spaces kept", write("sp", " a b \n"), " a b ", ""},
		{"empty", write("empty", "\n"), "", "is empty"},
		{"missing", filepath.Join(dir, "nope"), "", "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := SecretFromFile(tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.path) {
					t.Fatalf("err %v, want one naming %s and saying %q", err, tt.path, tt.wantErr)
				}
				return
			}
			if err != nil || string(s.b) != tt.want {
				t.Fatalf("secret %q, err %v; want %q", s.b, err, tt.want)
			}
		})
	}
}

func TestSecretFromEnv(t *testing.T) {
	t.Setenv("CL_TEST_WEBHOOK_SECRET", testSecret+"\n")
	s, err := SecretFromEnv("CL_TEST_WEBHOOK_SECRET")
	if err != nil || string(s.b) != testSecret {
		t.Fatalf("secret %q, err %v", s.b, err)
	}
	t.Setenv("CL_TEST_WEBHOOK_SECRET", "")
	if _, err := SecretFromEnv("CL_TEST_WEBHOOK_SECRET"); err == nil || !strings.Contains(err.Error(), "CL_TEST_WEBHOOK_SECRET") {
		t.Fatalf("empty variable: err %v, want one naming the variable", err)
	}
}

func TestSecretIsRedacted(t *testing.T) {
	s := NewSecret(testSecret)
	j, _ := json.Marshal(struct{ S Secret }{s})
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s), fmt.Sprintf("%+v", Config{GitHub: s}), string(j)} {
		if strings.Contains(out, testSecret) || !strings.Contains(out, redacted) {
			t.Errorf("printed as %q, want %s and no secret", out, redacted)
		}
	}
}
