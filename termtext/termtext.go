package termtext

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/rivo/uniseg"
)

// Clean returns s with every character that could steer a terminal shown
// as an escape: C0 controls (but tab), DEL and C1 controls as \xNN or
// \u00NN, bidirectional controls and line separators as \uNNNN, and bytes
// that are not UTF-8 as \xNN. Text without such characters is returned
// unchanged.
func Clean(s string) string {
	return clean(s, false)
}

// Line is Clean for one line of a table or a status: a tab, too, is shown
// as an escape.
func Line(s string) string {
	return clean(s, true)
}

func clean(s string, tabs bool) string {
	safe := true
	for _, r := range s {
		if unsafe(r, tabs) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x80 && unsafe(r, tabs):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafe(r, tabs):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// unsafe reports whether r must not reach a terminal as it is.
func unsafe(r rune, tabs bool) bool {
	switch {
	case r == '\t':
		return tabs
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f, r == utf8.RuneError:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f: // bidi marks (ALM, LRM, RLM)
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069: // bidi embeddings, overrides, isolates
		return true
	case r == 0x2028, r == 0x2029: // line and paragraph separators
		return true
	}
	return false
}

// Width is the number of terminal cells s takes (s cleaned: no control
// characters).
func Width(s string) int { return uniseg.StringWidth(s) }

// Ellipsis ends truncated text.
const Ellipsis = "…"

// Truncate cuts s to at most w cells, ending it with an ellipsis when it
// was cut; it never splits a character (a grapheme cluster).
func Truncate(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if Width(s) <= w {
		return s
	}
	var b strings.Builder
	used, state := 0, -1
	rest := s
	for len(rest) > 0 {
		var cluster string
		var cw int
		cluster, rest, cw, state = uniseg.FirstGraphemeClusterInString(rest, state)
		if used+cw > w-1 { // keep a cell for the ellipsis
			break
		}
		b.WriteString(cluster)
		used += cw
	}
	return b.String() + Ellipsis
}

// Pad fills s with spaces up to w cells (s as it is when it is wider).
func Pad(s string, w int) string {
	if n := w - Width(s); n > 0 {
		return s + strings.Repeat(" ", n)
	}
	return s
}
