package config

import (
	"bytes"
	"net/url"
	"strings"

	"gopkg.in/yaml.v3"
)

// Masked stands in for secret values in rendered output.
const Masked = "****"

// Resolved returns a copy of the configuration for display: defaults
// applied, every schedule's enabled flag explicit, and secret values
// (passwords in URLs, webhook URLs) masked.
func (c *Config) Resolved() *Config {
	r := *c
	r.Redis.URL = MaskURL(c.Redis.URL)
	r.Monitoring.AlertChannels = make([]AlertChannel, len(c.Monitoring.AlertChannels))
	for i, ch := range c.Monitoring.AlertChannels {
		if strings.HasPrefix(ch.Slack, "https://") {
			ch.Slack = maskPath(ch.Slack)
		}
		if ch.Webhook != "" {
			ch.Webhook = maskPath(ch.Webhook)
		}
		r.Monitoring.AlertChannels[i] = ch
	}
	r.Secrets.Endpoint = MaskURL(c.Secrets.Endpoint)
	r.Schedules = Map[*Schedule]{}
	for _, s := range c.Schedules.Values() {
		cp := *s
		on := s.IsEnabled()
		cp.Enabled = &on
		r.Schedules.Set(s.Name, &cp)
	}
	return &r
}

// MaskURL hides the password of a URL's userinfo (redis://:pw@h → redis://:****@h).
func MaskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), Masked)
		return strings.Replace(u.String(), url.QueryEscape(Masked), Masked, 1)
	}
	return raw
}

// maskPath keeps scheme and host of a URL whose path is a credential
// (Slack and generic webhooks).
func maskPath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return Masked
	}
	return u.Scheme + "://" + u.Host + "/" + Masked
}

// RenderYAML renders v as YAML with two-space indentation.
func RenderYAML(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
