package termtext

import (
	"strings"
	"testing"
)

func TestClean(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain text, é, 日本, 🚀", "plain text, é, 日本, 🚀"},
		{"tab\tkept", "tab\tkept"},
		{"\x1b[2J\x1b[H", `\x1b[2J\x1b[H`},                      // clear screen, home
		{"title\x1b]0;pwned\x07", `title\x1b]0;pwned\x07`},      // OSC window title, BEL
		{"clip\x1b]52;c;aGk=\x1b\\", `clip\x1b]52;c;aGk=\x1b\`}, // OSC 52 clipboard, ST
		{"cr\rover", `cr\x0dover`},
		{"nl\nline", `nl\x0aline`},
		{"del\x7f", `del\x7f`},
		{"c1\u009b31m", `c1\u009b31m`}, // 8-bit CSI
		{"osc\u009d0;x\u009c", `osc\u009d0;x\u009c`},
		{"bidi\u202eevil", `bidi\u202eevil`},
		{"iso\u2066late\u2069", `iso\u2066late\u2069`},
		{"mark\u200f", `mark\u200f`},
		{"sep\u2028line", `sep\u2028line`},
		{"bad\xffbyte", `bad\xffbyte`},
		{"", ""},
	}
	for _, c := range cases {
		got := Clean(c.in)
		if got != c.want {
			t.Errorf("Clean(%q) = %q, want %q", c.in, got, c.want)
		}
		if strings.ContainsAny(got, "\x1b\x07\r\n\u009b\u202e") {
			t.Errorf("Clean(%q) left a control character: %q", c.in, got)
		}
	}
	if got := Line("a\tb"); got != `a\x09b` {
		t.Errorf("Line(tab) = %q", got)
	}
}

func TestWidthTruncatePad(t *testing.T) {
	cases := []struct {
		in    string
		width int
		cut4  string
	}{
		{"web1", 4, "web1"},
		{"web-one", 7, "web…"},
		{"日本語のホスト", 14, "日…"},                     // 2 cells each: 日 + … fits 3 of 4
		{"e\u0301te\u0301", 3, "e\u0301te\u0301"}, // combining acute: no cells
		{"🚀🚀🚀", 6, "🚀…"},
		{"", 0, ""},
	}
	for _, c := range cases {
		if w := Width(c.in); w != c.width {
			t.Errorf("Width(%q) = %d, want %d", c.in, w, c.width)
		}
		got := Truncate(c.in, 4)
		if got != c.cut4 {
			t.Errorf("Truncate(%q, 4) = %q, want %q", c.in, got, c.cut4)
		}
		if Width(got) > 4 {
			t.Errorf("Truncate(%q, 4) = %q is %d cells wide", c.in, got, Width(got))
		}
	}
	if got := Truncate("abc", 0); got != "" {
		t.Errorf("Truncate to 0 = %q", got)
	}
	if got := Pad("日本", 6); got != "日本  " {
		t.Errorf("Pad = %q", got)
	}
	if got := Pad("toolong", 3); got != "toolong" {
		t.Errorf("Pad of a wider text = %q", got)
	}
}

// TestTableAlignsByDisplayWidth: wide, combining and styled cells do not
// shift the columns; hostile cells are cleaned; MaxWidth truncates.
func TestTableAlignsByDisplayWidth(t *testing.T) {
	tb := &Table{MaxWidth: []int{12}, Style: func(row, col int, s string) string {
		if col == 1 && row > 0 {
			return "\x1b[1m" + s + "\x1b[0m" // styling takes no cells
		}
		return s
	}}
	tb.Row("HOST", "STATE", "DETAIL")
	tb.Row("web1", "up", "ok")
	tb.Row("日本語ホスト", "DOWN", "x")
	tb.Row("café\u0301", "up", "y")
	tb.Row("evil\x1b[2J\rhost-with-a-long-name", "up", "z")
	lines := tb.Lines()
	if len(lines) != 5 {
		t.Fatalf("%d lines", len(lines))
	}
	unstyle := strings.NewReplacer("\x1b[1m", "", "\x1b[0m", "")
	col := -1
	for i, l := range lines {
		plain := unstyle.Replace(l)
		if strings.Contains(plain, "\x1b") || strings.Contains(plain, "\r") {
			t.Errorf("line %d keeps a control character: %q", i, l)
		}
		// The STATE column starts at the same cell on every line.
		head := plain[:strings.Index(plain, map[int]string{0: "STATE", 1: "up", 2: "DOWN", 3: "up", 4: "up"}[i])]
		if c := Width(head); col < 0 {
			col = c
		} else if c != col {
			t.Errorf("line %d: STATE column at cell %d, want %d:\n%s", i, c, col, strings.Join(lines, "\n"))
		}
	}
	if !strings.HasPrefix(unstyle.Replace(lines[4]), `evil\x1b[2J…`) {
		t.Errorf("long hostile cell not cleaned and truncated: %q", lines[4])
	}
}
