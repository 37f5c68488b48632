package config

import (
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"
)

// A release carries the config tree to every host, where any process of the
// worker's user can read it. What a worker does not need must not be in
// it: WorkerCopy removes credentials from the cl.yaml (and the overlays)
// a release ships, and the one secret a worker needs, its Redis URL, goes
// into a file of its own readable by the worker's user only
// (WorkerCredentials).

// WorkerSections are the top-level keys of cl.yaml a worker reads; WorkerCopy
// drops every other section (ssh, monitoring and any section added later),
// so a new section carrying credentials is not shipped by default. secrets
// is kept: it names the provider and where the worker finds its
// credentials (files, environment variables), never the credentials
// themselves; a user:password in secrets.endpoint is removed.
var WorkerSections = []string{"cluster", "redis", "hosts", "workers", "deployment", "schedules", "secrets"}

// WorkerCopy returns cl.yaml (or an environments/*.yaml overlay) as a
// release ships it to hosts: only WorkerSections, and redis.url without its
// password and sentinel password (the worker reads its full URL from its
// credentials file). Comments and the formatting of what is kept stay as
// they are. It fails when the file is not YAML whose top level is a
// mapping, or when what is left is not valid YAML (an alias to an anchor in
// a dropped section).
func WorkerCopy(data []byte) ([]byte, error) {
	d, err := parseSrc(data)
	if err != nil {
		return nil, err
	}
	if d.root == nil {
		return data, nil
	}
	if d.root.Style&yaml.FlowStyle != 0 && len(d.root.Content) > 0 {
		return nil, fmt.Errorf("the top level is written in flow style {...}: write it as an indented block so cl can remove credentials from the copy it deploys")
	}
	// Edit from the bottom up so that earlier line numbers stay valid.
	var drop []*yaml.Node
	var url, endpoint *yaml.Node
	for i := 0; i+1 < len(d.root.Content); i += 2 {
		k, v := d.root.Content[i], d.root.Content[i+1]
		switch {
		case !contains(WorkerSections, k.Value):
			drop = append(drop, k)
		case k.Value == "redis":
			if _, u := lookup(v, "url"); u != nil && u.Kind == yaml.ScalarNode {
				url = u
			}
		case k.Value == "secrets":
			if _, u := lookup(v, "endpoint"); u != nil && u.Kind == yaml.ScalarNode {
				endpoint = u
			}
		}
	}
	// The later node first, so that the earlier one's position stays valid.
	if endpoint != nil && (url == nil || endpoint.Line > url.Line) {
		if err := d.stripEndpoint(endpoint); err != nil {
			return nil, err
		}
		endpoint = nil
	}
	if url != nil {
		if clean := StripURLCredentials(url.Value); clean != url.Value {
			text, err := scalarText(clean)
			if err != nil {
				return nil, err
			}
			if err := d.replaceScalar(url, text); err != nil {
				return nil, fmt.Errorf("redis.url: %w", err)
			}
		}
	}
	if endpoint != nil {
		if err := d.stripEndpoint(endpoint); err != nil {
			return nil, err
		}
	}
	for i := len(drop) - 1; i >= 0; i-- {
		d.removeEntry(drop[i])
	}
	out := d.bytes()
	var check yaml.Node
	if err := yaml.Unmarshal(out, &check); err != nil {
		return nil, fmt.Errorf("without its credentials the file is not valid YAML (%v): do not refer to anchors of the sections a worker does not get (%s are kept)", err, strings.Join(WorkerSections, ", "))
	}
	return out, nil
}

// stripEndpoint removes the user information of secrets.endpoint.
func (d *srcDoc) stripEndpoint(n *yaml.Node) error {
	scheme, rest, ok := strings.Cut(n.Value, "://")
	if !ok {
		return nil
	}
	host, path, _ := strings.Cut(rest, "/")
	at := strings.LastIndex(host, "@")
	if at < 0 {
		return nil
	}
	clean := scheme + "://" + host[at+1:]
	if strings.Contains(rest, "/") {
		clean += "/" + path
	}
	text, err := scalarText(clean)
	if err != nil {
		return err
	}
	if err := d.replaceScalar(n, text); err != nil {
		return fmt.Errorf("secrets.endpoint: %w", err)
	}
	return nil
}

// StripURLCredentials returns a Redis URL without its password (user name
// kept) and without a sentinel_password (or any other *password*) option.
// It cuts the URL as the queue package parses it (user info up to the last
// '@'), so it works for passwords url.Parse rejects too.
func StripURLCredentials(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		user, _, _ := strings.Cut(rest[:at], ":")
		rest = rest[at+1:]
		if user != "" {
			rest = user + "@" + rest
		}
	}
	if base, query, ok := strings.Cut(rest, "?"); ok {
		var kept []string
		for _, kv := range strings.Split(query, "&") {
			k, _, _ := strings.Cut(kv, "=")
			if !strings.Contains(strings.ToLower(k), "password") {
				kept = append(kept, kv)
			}
		}
		rest = base
		if len(kept) > 0 {
			rest += "?" + strings.Join(kept, "&")
		}
	}
	return scheme + "://" + rest
}

// CredentialsPath is where a release keeps its worker's credentials,
// relative to the release directory.
const CredentialsPath = ".celeroot/credentials"

// WorkerCredentials are the secrets a worker needs: the full Redis URL of
// the environment it was deployed for ("" when cl.yaml sets none: the
// default applies).
type WorkerCredentials struct {
	Env      string `yaml:"env,omitempty"`
	RedisURL string `yaml:"redis_url,omitempty"`
}

// Encode renders the credentials file.
func (c WorkerCredentials) Encode() []byte {
	var b strings.Builder
	b.WriteString("# Written by cl host deploy for this host's worker (mode 0600); do not edit.\n")
	if c.Env != "" {
		fmt.Fprintf(&b, "env: %s\n", mustScalar(c.Env))
	}
	if c.RedisURL != "" {
		fmt.Fprintf(&b, "redis_url: %s\n", mustScalar(c.RedisURL))
	}
	return []byte(b.String())
}

func mustScalar(s string) string {
	out, err := yaml.Marshal(s)
	if err != nil { // a string always marshals
		panic(err)
	}
	return strings.TrimSuffix(string(out), "\n")
}

// ParseWorkerCredentials reads a credentials file (named by path in errors).
func ParseWorkerCredentials(path string, data []byte) (WorkerCredentials, error) {
	var c WorkerCredentials
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && err != io.EOF {
		return c, fmt.Errorf("%s: %v: redeploy the host (cl host deploy) to rewrite it", path, err)
	}
	return c, nil
}

// Apply sets cfg's Redis URL from the credentials, refusing credentials of
// another --env overlay than the one cfg was loaded with.
func (c WorkerCredentials) Apply(cfg *Config) error {
	if c.Env != cfg.Source.Env {
		return fmt.Errorf("the worker's credentials are for --env %q, not %q: run the worker with --env %q or deploy it for this environment", c.Env, cfg.Source.Env, c.Env)
	}
	if c.RedisURL != "" {
		cfg.Redis.URL = c.RedisURL
	}
	return nil
}

// WorkerRedisURL returns the redis.url a worker loading cl.yaml (data) with
// the overlay (overlay, nil for none) uses: the overlay's when it sets
// one, else cl.yaml's.
func WorkerRedisURL(data, overlay []byte) (string, error) {
	url := func(b []byte) (string, error) {
		var doc struct {
			Redis struct {
				URL string `yaml:"url"`
			} `yaml:"redis"`
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return "", err
		}
		return doc.Redis.URL, nil
	}
	u, err := url(data)
	if err != nil {
		return "", fmt.Errorf("cl.yaml: %v", err)
	}
	if overlay != nil {
		o, err := url(overlay)
		if err != nil {
			return "", fmt.Errorf("overlay: %v", err)
		}
		if o != "" {
			u = o
		}
	}
	return u, nil
}
