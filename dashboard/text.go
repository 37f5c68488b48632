package dashboard

import (
	"fmt"
	"html/template"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/celeroot/celeroot/config"
)

// ansi matches terminal escape sequences (CSI, OSC and two-byte ones).
var ansi = regexp.MustCompile(`\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])`)

// clean makes a string from a host or git fit to show: terminal escape
// sequences are removed, other control characters (but tab) become
// U+FFFD, invalid UTF-8 too. html/template escapes the rest.
func clean(s string) string {
	if !strings.ContainsFunc(s, needsClean) {
		return s
	}
	s = ansi.ReplaceAllString(s, "")
	return strings.Map(func(r rune) rune {
		if needsClean(r) {
			return unicode.ReplacementChar
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

func needsClean(r rune) bool {
	return (r < 0x20 && r != '\t') || (r >= 0x7f && r < 0xa0) || r == unicode.ReplacementChar
}

// short is a SHA's first 12 characters ("—" for none).
func short(sha string) string {
	switch {
	case sha == "":
		return "—"
	case len(sha) > 12:
		return clean(sha[:12])
	}
	return clean(sha)
}

// ago is how long before now t was, coarsely ("—" for the zero time).
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "in " + coarse(-d)
	case d < time.Second:
		return "now"
	}
	return coarse(d) + " ago"
}

func coarse(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// dur is a duration rounded for reading.
func dur(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

// span is the time from a to b ("—" when either is missing).
func span(a, b time.Time) string {
	if a.IsZero() || b.IsZero() {
		return "—"
	}
	return dur(b.Sub(a))
}

// stamp is t in UTC for a <time> element's text.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// iso is t for a <time datetime>.
func iso(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// tags renders "k=v" pairs in key order.
func tags(m map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if b.Len() > 0 {
			b.WriteString(" ")
		}
		b.WriteString(clean(k))
		b.WriteString("=")
		b.WriteString(clean(m[k]))
	}
	return b.String()
}

// secretWords mark a parameter name whose value is a secret.
var secretWords = []string{"password", "passwd", "pass", "pwd", "secret", "token", "key", "auth", "signature", "credential"}

// param is a run parameter as shown: secret-named ones masked (as the
// CLI masks), URLs with their credentials masked, the rest cleaned.
func param(name string, v any) string {
	low := strings.ToLower(name)
	for _, w := range secretWords {
		if strings.Contains(low, w) {
			return config.Masked
		}
	}
	s := fmt.Sprint(v)
	if strings.Contains(s, "://") || strings.Contains(s, "@") {
		s = config.MaskURL(s)
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return clean(s)
}

// humanBytes is n in binary units.
func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// stateClass is the CSS class of a state word (colour is a second cue: the
// word itself is always shown).
func stateClass(s string) string {
	switch s {
	case "in-sync", "succeeded", "ok", "accepted", "fetched", "up":
		return "ok"
	case "drifted", "failed", "dead", "error", "killed", "refused", "unreachable", "down":
		return "bad"
	case "pending", "running", "retrying", "queued", "ignored", "duplicate":
		return "warn"
	}
	return "unknown"
}

var funcs = template.FuncMap{
	"clean": clean, "short": short, "ago": ago, "dur": dur, "span": span, "stamp": stamp, "iso": iso,
	"tags": tags, "param": param, "bytes": humanBytes, "stateClass": stateClass,
	"pathEscape": pathEscape, "add": func(a, b int) int { return a + b },
	"str": func(v any) string { return fmt.Sprint(v) },
}
