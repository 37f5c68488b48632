package termtext

import (
	"io"
	"strings"
)

// Table lays out rows in columns aligned by display width (text/tabwriter
// counts runes, so wide characters and styled cells shift its columns).
// Cells are cleaned with Line (or Clean, when set); a cell wider than the
// column's MaxWidth is truncated.
type Table struct {
	// Gap is the number of spaces between columns (default 2).
	Gap int
	// MaxWidth caps the width of each column by index; 0 or missing: no cap.
	MaxWidth []int
	// Style, when set, decorates a cell after it was padded (e.g. with
	// colours, which take no cells): row 0 is the first row added.
	Style func(row, col int, padded string) string
	// Clean, when set, replaces Line as the cleaner of cells (e.g. one that
	// keeps the bytes of text bound for a pipe).
	Clean func(string) string

	rows [][]string
}

// Row adds a row; cells are cleaned.
func (t *Table) Row(cells ...string) {
	clean := t.Clean
	if clean == nil {
		clean = Line
	}
	row := make([]string, len(cells))
	for i, c := range cells {
		row[i] = clean(c)
		if i < len(t.MaxWidth) && t.MaxWidth[i] > 0 {
			row[i] = Truncate(row[i], t.MaxWidth[i])
		}
	}
	t.rows = append(t.rows, row)
}

// Len is the number of rows added.
func (t *Table) Len() int { return len(t.rows) }

// Lines returns the laid-out rows, trailing spaces trimmed.
func (t *Table) Lines() []string {
	var widths []int
	for _, r := range t.rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], Width(c))
		}
	}
	gap := t.Gap
	if gap <= 0 {
		gap = 2
	}
	sep := strings.Repeat(" ", gap)
	out := make([]string, len(t.rows))
	for ri, r := range t.rows {
		var b strings.Builder
		for i, c := range r {
			cell := c
			if i < len(r)-1 {
				cell = Pad(c, widths[i])
			}
			if t.Style != nil {
				cell = t.Style(ri, i, cell)
			}
			b.WriteString(cell)
			if i < len(r)-1 {
				b.WriteString(sep)
			}
		}
		out[ri] = strings.TrimRight(b.String(), " ")
	}
	return out
}

// WriteTo writes the laid-out rows, one a line.
func (t *Table) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for _, l := range t.Lines() {
		m, err := io.WriteString(w, l+"\n")
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
