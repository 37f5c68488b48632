package sync

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
)

// sourceURL is a parsed repository URL.
type sourceURL struct {
	scheme   string // file, git, http, https or ssh
	dial     string // what go-git dials: may carry credentials given in the URL
	stored   string // credentials removed: kept in the clone's config, named in errors
	password string // a password or token given in the URL, scrubbed from errors
	user     string // ssh: the user to log in as
	addr     string // ssh: host:port, as known_hosts is checked
}

// parseSourceURL accepts a local path, file://, git://, http(s)://,
// ssh:// and the scp form user@host:path.
func parseSourceURL(raw string) (sourceURL, error) {
	if strings.TrimSpace(raw) == "" {
		return sourceURL{}, errors.New("config repository source: no URL: pass --repo with a path, or a git://, https:// or ssh:// URL")
	}
	if !strings.Contains(raw, "://") {
		if isSCPLike(raw) {
			user, host, ok := strings.Cut(raw, "@")
			if !ok {
				user, host = "", raw
			}
			host, _, _ = strings.Cut(host, ":")
			return sourceURL{scheme: "ssh", dial: raw, stored: raw, user: firstSet(user, "git"), addr: net.JoinHostPort(host, "22")}, nil
		}
		abs, err := filepath.Abs(raw)
		if err != nil {
			return sourceURL{}, fmt.Errorf("repository path %s: %w", raw, err)
		}
		return sourceURL{scheme: "file", dial: abs, stored: abs}, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return sourceURL{}, fmt.Errorf("repository URL %s: %w", scrubText(raw), errors.New(scrubText(err.Error())))
	}
	s := sourceURL{scheme: u.Scheme, dial: raw, stored: u.Redacted()}
	if p, ok := u.User.Password(); ok {
		s.password = p
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return sourceURL{}, fmt.Errorf("repository URL %s names a host: a file:// URL is file:///absolute/path", s.stored)
		}
		s.dial, s.stored = u.Path, u.Path
	case "git", "http", "https":
	case "ssh":
		s.user = firstSet(u.User.Username(), "git")
		s.addr = net.JoinHostPort(u.Hostname(), firstSet(u.Port(), "22"))
	default:
		return sourceURL{}, fmt.Errorf("repository URL %s: unsupported scheme %q: use a path, file://, git://, https:// or ssh://", s.stored, u.Scheme)
	}
	if s.scheme != "file" && u.Host == "" {
		return sourceURL{}, fmt.Errorf("repository URL %s names no host: write it like %s://host/owner/repo.git", s.stored, u.Scheme)
	}
	return s, nil
}

// isSCPLike matches user@host:path and host:path (a colon before any slash).
func isSCPLike(raw string) bool {
	colon, slash := strings.Index(raw, ":"), strings.Index(raw, "/")
	return colon > 0 && (slash < 0 || colon < slash) && !strings.HasPrefix(raw, ".")
}

// checkAuth refuses options that cannot work with the URL's scheme.
func (u sourceURL) checkAuth(o SourceOptions) error {
	token := o.TokenFile != "" || o.TokenEnv != ""
	ssh := o.SSHKeyFile != "" || o.KnownHostsFile != "" || o.HostKeyPolicy != ""
	switch {
	case o.TokenFile != "" && o.TokenEnv != "":
		return errors.New("config repository source: a token file and a token variable: give one")
	case token && u.scheme == "http":
		return fmt.Errorf("repository URL %s is plain http: a token is sent only over https (use https://)", u.stored)
	case token && u.scheme != "https":
		return fmt.Errorf("repository URL %s is %s: a token is for https URLs (drop it, or use the https URL)", u.stored, u.scheme)
	case ssh && u.scheme != "ssh":
		return fmt.Errorf("repository URL %s is %s: an ssh key, known_hosts or host key policy is for ssh URLs", u.stored, u.scheme)
	case o.HostKeyPolicy != "" && o.HostKeyPolicy != "strict" && o.HostKeyPolicy != "accept-new":
		return fmt.Errorf("unknown host key policy %q: want strict or accept-new", o.HostKeyPolicy)
	case o.CAFile != "" && u.scheme != "https":
		return fmt.Errorf("repository URL %s is %s: a CA file is for https URLs", u.stored, u.scheme)
	}
	return nil
}

// auth builds the credentials for one fetch, re-reading token files so a
// rotated token is used at once. secret is what errors must not show.
func (u sourceURL) auth(o SourceOptions) (method transport.AuthMethod, secret string, err error) {
	switch {
	case u.scheme == "https" && (o.TokenFile != "" || o.TokenEnv != ""):
		token, err := readToken(o)
		if err != nil {
			return nil, "", err
		}
		return &githttp.BasicAuth{Username: o.Username, Password: token}, token, nil
	case u.scheme == "ssh":
		m, err := u.sshAuth(o)
		return m, "", err
	}
	return nil, "", nil
}

func readToken(o SourceOptions) (string, error) {
	if o.TokenEnv != "" {
		t := strings.TrimSpace(os.Getenv(o.TokenEnv))
		if t == "" {
			return "", fmt.Errorf("the token variable %s is empty or unset: export the repository token in it", o.TokenEnv)
		}
		return t, nil
	}
	data, err := os.ReadFile(o.TokenFile)
	if err != nil {
		return "", fmt.Errorf("read the token file: %w", err)
	}
	t, _, _ := strings.Cut(strings.TrimSpace(string(data)), "\n")
	if t = strings.TrimSpace(t); t == "" {
		return "", fmt.Errorf("the token file %s is empty: write the repository token in it", o.TokenFile)
	}
	return t, nil
}

func (u sourceURL) sshAuth(o SourceOptions) (transport.AuthMethod, error) {
	kh, err := newKnownHosts(o.KnownHostsFile, o.HostKeyPolicy)
	if err != nil {
		return nil, err
	}
	helper := gitssh.HostKeyCallbackHelper{HostKeyCallback: kh.callback(), HostKeyAlgorithms: kh.algorithms(u.addr)}
	if o.SSHKeyFile != "" {
		keys, err := gitssh.NewPublicKeysFromFile(u.user, o.SSHKeyFile, "")
		if err != nil {
			return nil, fmt.Errorf("read ssh key %s: %w (give an unencrypted key, or use ssh-agent)", o.SSHKeyFile, err)
		}
		keys.HostKeyCallbackHelper = helper
		return keys, nil
	}
	if os.Getenv("SSH_AUTH_SOCK") == "" {
		return nil, fmt.Errorf("repository URL %s is ssh but no key is given and no ssh-agent runs: pass a private key file", u.stored)
	}
	agent, err := gitssh.NewSSHAgentAuth(u.user)
	if err != nil {
		return nil, fmt.Errorf("use ssh-agent for %s: %w", u.stored, err)
	}
	agent.HostKeyCallbackHelper = helper
	return agent, nil
}

// credentialsInURL matches the user:password@ part of a URL.
var credentialsInURL = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^/@\s:]*):[^@\s/]*@`)

func scrubText(s string) string { return credentialsInURL.ReplaceAllString(s, "$1:xxxxx@") }

// scrub removes credentials from err's text: the URL as dialled, any
// user:password@ in a URL, and the secrets given. errors.Is still sees
// through it; errors.Unwrap does not (the text below may hold them).
func (u sourceURL) scrub(err error, secrets ...string) error {
	msg := err.Error()
	if u.dial != u.stored {
		msg = strings.ReplaceAll(msg, u.dial, u.stored)
	}
	for _, s := range append(secrets, u.password) {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
		}
	}
	return &scrubbedError{msg: scrubText(msg), err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string        { return e.msg }
func (e *scrubbedError) Is(target error) bool { return errors.Is(e.err, target) }
