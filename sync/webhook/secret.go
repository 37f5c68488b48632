package webhook

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// Secret is a webhook secret. Its String, GoString, LogValue and
// MarshalJSON methods print "[redacted]", so a Secret that ends up in a log
// line, an error or a status document by mistake does not leak.
type Secret struct {
	b []byte
}

// NewSecret wraps s. Use SecretFromFile or SecretFromEnv for configured
// secrets; NewSecret is for tests and for secrets that already sit in memory.
func NewSecret(s string) Secret { return Secret{b: []byte(s)} }

// SecretFromFile reads a secret from the file at path, dropping trailing
// newlines (as `echo` leaves them). An empty file is an error. The error
// names the file, never its content.
func SecretFromFile(path string) (Secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Secret{}, fmt.Errorf("webhook secret file %s does not exist: create it with the secret the git host signs with", path)
		}
		return Secret{}, fmt.Errorf("read webhook secret file %s: %w", path, err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return Secret{}, fmt.Errorf("webhook secret file %s is empty: write the secret the git host signs with into it", path)
	}
	return Secret{b: []byte(s)}, nil
}

// SecretFromEnv reads a secret from the environment variable name, dropping
// trailing newlines. An unset or empty variable is an error. The error names
// the variable, never its value.
func SecretFromEnv(name string) (Secret, error) {
	s := strings.TrimRight(os.Getenv(name), "\r\n")
	if s == "" {
		return Secret{}, fmt.Errorf("webhook secret variable %s is unset or empty: export the secret the git host signs with", name)
	}
	return Secret{b: []byte(s)}, nil
}

// IsZero reports whether no secret is set.
func (s Secret) IsZero() bool { return len(s.b) == 0 }

const redacted = "[redacted]"

func (s Secret) String() string               { return redacted }
func (s Secret) GoString() string             { return redacted }
func (s Secret) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
