package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/smtp"
	"os"
	"strings"
	"time"

	"github.com/celeroot/celeroot/config"
)

// Expander replaces the secret references (${secret:…}) in a value with
// the secrets' values (the agent's: package secrets, with a short cache).
// A value without references comes back unchanged.
type Expander func(ctx context.Context, s string) (string, error)

// secretRefOpen starts a secret reference.
const secretRefOpen = "${secret:"

// expand resolves s through x when s holds a reference.
func expand(ctx context.Context, x Expander, s string) (string, error) {
	if !strings.Contains(s, secretRefOpen) {
		return s, nil
	}
	if x == nil {
		return "", fmt.Errorf("%s: secret references in monitoring need a secrets provider (cl.yaml secrets section)", s)
	}
	return x(ctx, s)
}

// Channels builds the channels of cfg's monitoring.alert_channels. Items
// that cannot send (an email without monitoring.smtp.address, a "#channel"
// without monitoring.slack_webhook_url) are returned in skipped, each with
// the reason, so that the agent can warn about them. Webhook URLs and the
// SMTP password may be secret references: each send resolves them through
// x, so a rotated secret is used without a restart.
func Channels(m config.Monitoring, getenv func(string) string, x Expander) (chs []Channel, skipped []string) {
	if getenv == nil {
		getenv = os.Getenv
	}
	client := &http.Client{Timeout: 15 * time.Second}
	for _, c := range m.AlertChannels {
		switch {
		case c.Email != "":
			if m.SMTP.Address == "" {
				skipped = append(skipped, "email "+c.Email+": no monitoring.smtp.address")
				continue
			}
			e := &Email{Address: m.SMTP.Address, From: m.SMTP.From, To: c.Email, Username: m.SMTP.Username, Expand: x}
			switch {
			case m.SMTP.Password != "":
				e.Password = m.SMTP.Password // a reference, resolved at each send
			case m.SMTP.PasswordEnv != "":
				e.Password = getenv(m.SMTP.PasswordEnv)
			}
			chs = append(chs, e)
		case strings.HasPrefix(c.Slack, "#"):
			if m.SlackWebhookURL == "" {
				skipped = append(skipped, "slack "+c.Slack+": no monitoring.slack_webhook_url")
				continue
			}
			chs = append(chs, &Slack{URL: m.SlackWebhookURL, Channel: c.Slack, Client: client, Expand: x})
		case c.Slack != "":
			chs = append(chs, &Slack{URL: c.Slack, Client: client, Expand: x})
		case c.Webhook != "":
			chs = append(chs, &Webhook{URL: c.Webhook, Client: client, Expand: x})
		}
	}
	return chs, skipped
}

// Email sends notices as plain-text mail over SMTP (STARTTLS when offered).
type Email struct {
	Address  string // host:port
	From, To string
	Username string
	Password string   // the password, or a secret reference resolved through Expand at each send
	Expand   Expander // nil: Password holds no reference
}

// Name is "email:<to>".
func (e *Email) Name() string { return "email:" + e.To }

// Send mails one notice.
func (e *Email) Send(ctx context.Context, n Notice) error {
	from := e.From
	if from == "" {
		h, _ := os.Hostname()
		from = "celeroot@" + h
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", e.Address)
	if err != nil {
		return fmt.Errorf("smtp %s: %w", e.Address, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	host, _, _ := net.SplitHostPort(e.Address)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp %s: %w", e.Address, err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(tlsConfig(host)); err != nil {
			return fmt.Errorf("smtp %s: starttls: %w", e.Address, err)
		}
	}
	if e.Username != "" {
		pw, err := expand(ctx, e.Expand, e.Password)
		if err != nil {
			return fmt.Errorf("smtp %s: password: %w", e.Address, err)
		}
		if err := c.Auth(smtp.PlainAuth("", e.Username, pw, host)); err != nil {
			return fmt.Errorf("smtp %s: log in as %s: %w", e.Address, e.Username, err)
		}
	}
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("smtp %s: from %s: %w", e.Address, from, err)
	}
	if err := c.Rcpt(e.To); err != nil {
		return fmt.Errorf("smtp %s: to %s: %w", e.Address, e.To, err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp %s: %w", e.Address, err)
	}
	msg := "From: " + from + "\r\nTo: " + e.To + "\r\nSubject: " + oneLine(n.Title()) +
		"\r\nDate: " + n.At.Format(time.RFC1123Z) + "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		strings.ReplaceAll(body(n), "\n", "\r\n") + "\r\n"
	if _, err := io.WriteString(w, msg); err != nil {
		return fmt.Errorf("smtp %s: %w", e.Address, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp %s: %w", e.Address, err)
	}
	return c.Quit()
}

func oneLine(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }

// body is the text of a notice.
func body(n Notice) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\ncluster: %s\nalert: %s\nsince: %s\n", n.Title(), n.Cluster, n.Key, n.Since.Format(time.RFC3339))
	if n.Resolved {
		fmt.Fprintf(&b, "resolved: %s\n", n.At.Format(time.RFC3339))
	}
	return b.String()
}

// Slack posts notices to a Slack incoming webhook.
type Slack struct {
	URL     string // the webhook, or a secret reference resolved through Expand at each send
	Channel string // "" : the webhook's own channel
	Client  *http.Client
	Expand  Expander
}

// Name is "slack:<channel or masked webhook>".
func (s *Slack) Name() string {
	if s.Channel != "" {
		return "slack:" + s.Channel
	}
	return "slack:" + maskedURL(s.URL)
}

// Send posts one notice.
func (s *Slack) Send(ctx context.Context, n Notice) error {
	icon := ":rotating_light:"
	if n.Resolved {
		icon = ":white_check_mark:"
	}
	msg := map[string]string{"text": icon + " " + n.Title()}
	if s.Channel != "" {
		msg["channel"] = s.Channel
	}
	url, err := expand(ctx, s.Expand, s.URL)
	if err != nil {
		return fmt.Errorf("slack webhook: %w", err)
	}
	return postJSON(ctx, s.Client, url, msg)
}

// Webhook posts notices as JSON (the Notice fields) to a URL.
type Webhook struct {
	URL    string // the URL, or a secret reference resolved through Expand at each send
	Client *http.Client
	Expand Expander
}

// Name is "webhook:<masked url>".
func (w *Webhook) Name() string { return "webhook:" + maskedURL(w.URL) }

// Send posts one notice.
func (w *Webhook) Send(ctx context.Context, n Notice) error {
	url, err := expand(ctx, w.Expand, w.URL)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	return postJSON(ctx, w.Client, url, n)
}

func postJSON(ctx context.Context, c *http.Client, url string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("post to %s: %w", maskedURL(url), err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		// The error text holds the URL, whose path is the webhook's secret.
		return fmt.Errorf("post to %s: %s", maskedURL(url), strings.ReplaceAll(err.Error(), url, maskedURL(url)))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("post to %s: %s", maskedURL(url), resp.Status)
	}
	return nil
}

// maskedURL keeps a webhook URL's scheme and host: its path is its secret.
// A secret reference is shown as written (it names the secret, no value).
func maskedURL(raw string) string {
	if strings.HasPrefix(raw, secretRefOpen) && strings.Count(raw, "}") == 1 && strings.HasSuffix(raw, "}") {
		return raw
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return config.Masked
	}
	host, _, _ := strings.Cut(rest, "/")
	return scheme + "://" + config.MaskURL(host) + "/" + config.Masked
}
