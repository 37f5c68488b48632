package config

import (
	"bytes"
	"strings"

	"gopkg.in/yaml.v3"
)

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
		if ch.Webhook != "" && !strings.Contains(ch.Webhook, secretRefOpen) { // a reference is shown as written
			ch.Webhook = maskPath(ch.Webhook)
		}
		r.Monitoring.AlertChannels[i] = ch
	}
	if c.Monitoring.SlackWebhookURL != "" && !strings.Contains(c.Monitoring.SlackWebhookURL, secretRefOpen) {
		r.Monitoring.SlackWebhookURL = maskPath(c.Monitoring.SlackWebhookURL)
	}
	r.Secrets.Endpoint = MaskURL(c.Secrets.Endpoint)
	r.Deployment.HealthCheckURL = MaskURL(c.Deployment.HealthCheckURL)
	r.Schedules = Map[*Schedule]{}
	for _, s := range c.Schedules.Values() {
		cp := *s
		on := s.IsEnabled()
		cp.Enabled = &on
		r.Schedules.Set(s.Name, &cp)
	}
	return &r
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
