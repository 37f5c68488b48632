package hostexec

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
)

// Reasons a host could not be reached. Errors from Pool.Get, Dial and Run
// wrap one of them where it applies, so callers (the status command) can
// report a reason per host with errors.Is or Reason.
var (
	ErrRefused         = errors.New("connection refused")
	ErrTimeout         = errors.New("timed out")
	ErrUnreachable     = errors.New("host unreachable")
	ErrAuthFailed      = errors.New("authentication failed")
	ErrHostKeyUnknown  = errors.New("host key unknown")
	ErrHostKeyMismatch = errors.New("host key mismatch")
	ErrConnLost        = errors.New("connection lost")
	ErrPoolClosed      = errors.New("pool closed")
)

// Reason returns a short reason for err ("refused", "timeout",
// "unreachable", "auth failed", "host key unknown", "host key mismatch",
// "connection lost", "cancelled"), or "error" when none applies.
func Reason(err error) string {
	for _, r := range []struct {
		err  error
		name string
	}{
		{ErrHostKeyMismatch, "host key mismatch"},
		{ErrHostKeyUnknown, "host key unknown"},
		{ErrAuthFailed, "auth failed"},
		{ErrRefused, "refused"},
		{ErrTimeout, "timeout"},
		{ErrUnreachable, "unreachable"},
		{ErrConnLost, "connection lost"},
		{context.Canceled, "cancelled"},
		{context.DeadlineExceeded, "timeout"},
	} {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	if err == nil {
		return ""
	}
	return "error"
}

// HostKeyErrorKind says why a host key was refused.
type HostKeyErrorKind string

const (
	// HostKeyUnknown: known_hosts holds no key for the host (policy strict).
	HostKeyUnknown HostKeyErrorKind = "unknown"
	// HostKeyMismatch: known_hosts holds other keys for the host, or the key
	// is revoked. Refused under every policy.
	HostKeyMismatch HostKeyErrorKind = "mismatch"
)

// HostKeyError is a host key refused by known_hosts verification.
type HostKeyError struct {
	Host        string // the address as known_hosts writes it: "host" or "[host]:port"
	Kind        HostKeyErrorKind
	KeyType     string // the type of the key the server offered, e.g. "ssh-ed25519"
	Fingerprint string // its SHA256 fingerprint, "SHA256:…"
	Hint        string // what to do about it
}

func (e *HostKeyError) Error() string {
	var b strings.Builder
	switch e.Kind {
	case HostKeyUnknown:
		fmt.Fprintf(&b, "host key for %s is not in known_hosts", e.Host)
	default:
		fmt.Fprintf(&b, "host key for %s does not match known_hosts (possible man-in-the-middle attack, or the host was reinstalled)", e.Host)
	}
	if e.KeyType != "" {
		fmt.Fprintf(&b, ": server offered %s %s", e.KeyType, e.Fingerprint)
	}
	if e.Hint != "" {
		b.WriteString("; " + e.Hint)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrHostKeyUnknown) and
// errors.Is(err, ErrHostKeyMismatch) work on a *HostKeyError.
func (e *HostKeyError) Is(target error) bool {
	switch target {
	case ErrHostKeyUnknown:
		return e.Kind == HostKeyUnknown
	case ErrHostKeyMismatch:
		return e.Kind == HostKeyMismatch
	}
	return false
}

// classifyConnect wraps a dial or handshake error with the sentinel
// reason that fits it. timedOut is set when our own deadline fired.
func classifyConnect(err error, timedOut bool) error {
	var hk *HostKeyError
	msg := err.Error()
	switch {
	case errors.As(err, &hk), errors.Is(err, context.Canceled):
		return err
	case timedOut, errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), isNetTimeout(err):
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	case errors.Is(err, syscall.ECONNREFUSED), strings.Contains(msg, "Connection refused"):
		return fmt.Errorf("%w: %w", ErrRefused, err)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH), isDNSError(err),
		strings.Contains(msg, "No route to host"), strings.Contains(msg, "Name or service not known"):
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	case strings.Contains(msg, "unable to authenticate"), strings.Contains(msg, "no supported methods remain"):
		return fmt.Errorf("%w: %w", ErrAuthFailed, err)
	}
	return err
}

func isNetTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isDNSError(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de)
}
