package config

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// srcDoc is cl.yaml as text plus its parsed node tree. Edits change the text
// surgically at node positions, so comments, key order and the formatting of
// everything not touched survive byte for byte.
type srcDoc struct {
	lines []string // without line terminators
	root  *yaml.Node
	crlf  bool
	final bool // text ended with a newline
}

func parseSrc(data []byte) (*srcDoc, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("cl.yaml is not valid YAML (%v): fix it first (cl config validate)", err)
	}
	text := string(data)
	d := &srcDoc{crlf: strings.Contains(text, "\r\n"), final: strings.HasSuffix(text, "\n")}
	text = strings.ReplaceAll(text, "\r\n", "\n")
	d.lines = strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if text == "" {
		d.lines = nil
	}
	if len(doc.Content) > 0 {
		d.root = doc.Content[0]
	}
	if d.root != nil && d.root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("the top level of cl.yaml is not a mapping: fix it first (cl config validate)")
	}
	return d, nil
}

func (d *srcDoc) bytes() []byte {
	sep := "\n"
	if d.crlf {
		sep = "\r\n"
	}
	out := strings.Join(d.lines, sep)
	if d.final || len(d.lines) > 0 {
		out += sep
	}
	return []byte(out)
}

// lookup returns the key and value nodes of key in mapping m.
func lookup(m *yaml.Node, key string) (k, v *yaml.Node) {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

func indentOf(line string) int { return len(line) - len(strings.TrimLeft(line, " ")) }

func isBlankOrComment(line string) bool {
	t := strings.TrimSpace(line)
	return t == "" || strings.HasPrefix(t, "#")
}

// blockEnd returns the index (0-based) of the first line after the block
// that starts at keyLine (1-based) with a key at column keyCol (1-based):
// the block holds every following line indented deeper than the key, plus
// blank and comment lines among them. Trailing blank lines and comments at
// the key's indentation or less are left outside (they belong to what follows).
func (d *srcDoc) blockEnd(keyLine, keyCol int) int {
	i := keyLine // index of the line after the key
	last := keyLine - 1
	for ; i < len(d.lines); i++ {
		l := d.lines[i]
		if isBlankOrComment(l) {
			if strings.TrimSpace(l) != "" && indentOf(l) > keyCol-1 {
				last = i
			}
			continue
		}
		if indentOf(l) < keyCol-1 || (indentOf(l) == keyCol-1 && !strings.HasPrefix(strings.TrimLeft(l, " "), "- ")) {
			break
		}
		last = i
	}
	// A multi-line scalar may continue on lines indented less than its key:
	// the document's next node says where the entry really ends.
	if k := d.keyAt(keyLine, keyCol); k != nil {
		return max(last+1, d.entryEnd(k))
	}
	return last + 1
}

// keyAt returns the mapping key at line and col (1-based), nil if none.
func (d *srcDoc) keyAt(line, col int) *yaml.Node {
	var found *yaml.Node
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if found != nil {
			return
		}
		if n.Kind == yaml.MappingNode {
			for i := 0; i < len(n.Content); i += 2 {
				if k := n.Content[i]; k.Line == line && k.Column == col {
					found = k
					return
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	if d.root != nil {
		walk(d.root)
	}
	return found
}

func (d *srcDoc) insert(at int, lines ...string) {
	d.lines = append(d.lines[:at], append(append([]string{}, lines...), d.lines[at:]...)...)
}

func (d *srcDoc) remove(from, to int) {
	d.lines = append(d.lines[:from], d.lines[to:]...)
}

// scalarText renders s as a YAML scalar, quoted when YAML would otherwise
// read it as something else.
func scalarText(v any) (string, error) {
	out, err := yaml.Marshal(v)
	if err != nil {
		return "", err
	}
	s := strings.TrimSuffix(string(out), "\n")
	// A string with a line break comes out as a block scalar (|4+, >-),
	// which cannot be written on one line.
	if strings.Contains(s, "\n") || strings.HasPrefix(s, "|") || strings.HasPrefix(s, ">") {
		return "", fmt.Errorf("value %q must fit on one line", v)
	}
	return s, nil
}

// maxKeyLen is the longest key YAML reads as an implicit key (libyaml's
// limit is 1024 characters, quotes and escapes included).
const maxKeyLen = 1000

// keyText renders k as a YAML mapping key, quoted when YAML would otherwise
// read it as something else (" ", "a: b", "#x", "true", "").
func keyText(k string) (string, error) {
	s, err := scalarText(k)
	if err != nil {
		return "", fmt.Errorf("key %w", err)
	}
	if strings.HasPrefix(s, "!!") { // not valid UTF-8: yaml.Marshal chose !!binary
		return "", fmt.Errorf("key %q is not valid UTF-8", k)
	}
	if len(s) > maxKeyLen {
		return "", fmt.Errorf("key %.20q… is longer than %d characters", k, maxKeyLen)
	}
	return s, nil
}

// replaceScalar replaces the text of scalar node n with text.
func (d *srcDoc) replaceScalar(n *yaml.Node, text string) error {
	if n.Kind != yaml.ScalarNode || n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return fmt.Errorf("line %d: only single-line values can be edited; change it by hand", n.Line)
	}
	line := []rune(d.lines[n.Line-1])
	start := n.Column - 1
	if start > len(line) {
		return fmt.Errorf("line %d: value position is out of range", n.Line)
	}
	end, err := scalarEnd(line, start, n)
	if err != nil {
		return err
	}
	d.lines[n.Line-1] = string(line[:start]) + text + string(line[end:])
	return nil
}

// scalarEnd finds where the scalar starting at line[start] ends.
func scalarEnd(line []rune, start int, n *yaml.Node) (int, error) {
	if start < len(line) && (line[start] == '"' || line[start] == '\'') {
		q := line[start]
		for i := start + 1; i < len(line); i++ {
			switch {
			case q == '"' && line[i] == '\\':
				i++
			case line[i] == q && q == '\'' && i+1 < len(line) && line[i+1] == '\'':
				i++
			case line[i] == q:
				return i + 1, nil
			}
		}
		return 0, fmt.Errorf("line %d: a quoted value spans lines; change it by hand", n.Line)
	}
	if n.ShortTag() == "!!null" && n.Value == "" {
		return start, nil
	}
	v := []rune(n.Value)
	if start+len(v) > len(line) || string(line[start:start+len(v)]) != n.Value {
		return 0, fmt.Errorf("line %d: value spans lines; change it by hand", n.Line)
	}
	return start + len(v), nil
}

// childIndent is the indentation (spaces) of entries of mapping value v
// whose key sits at keyCol; step is the file's indentation unit.
func childIndent(v *yaml.Node, keyCol, step int) int {
	if v != nil && v.Kind == yaml.MappingNode && v.Style&yaml.FlowStyle == 0 && len(v.Content) > 0 {
		return v.Content[0].Column - 1
	}
	return keyCol - 1 + step
}

// indentStep guesses the file's indentation unit from its first nested key.
func (d *srcDoc) indentStep() int {
	if d.root != nil {
		for i := 1; i < len(d.root.Content); i += 2 {
			v := d.root.Content[i]
			if v.Kind == yaml.MappingNode && v.Style&yaml.FlowStyle == 0 && len(v.Content) > 0 {
				if s := v.Content[0].Column - d.root.Content[i-1].Column; s > 0 {
					return s
				}
			}
		}
	}
	return 2
}

// setKey sets key under mapping value m (whose own key is mk) to text:
// it replaces an existing scalar or appends a new entry to the mapping. mk nil means the document root.
func (d *srcDoc) setKey(mk, m *yaml.Node, key, text string) error {
	if _, v := lookup(m, key); v != nil {
		return d.replaceScalar(v, text)
	}
	entries, err := renderEntries(0, key, text)
	if err != nil {
		return err
	}
	return d.insertEntries(mk, m, entries)
}

// insertEntries adds lines (unindented "key: value" text, possibly with
// relative indentation) as entries of mapping m whose key node is mk.
func (d *srcDoc) insertEntries(mk, m *yaml.Node, entries []string) error {
	step := d.indentStep()
	if mk == nil { // document root: append at the end
		if len(d.lines) > 0 && strings.TrimSpace(d.lines[len(d.lines)-1]) != "" {
			d.lines = append(d.lines, "")
		}
		d.lines = append(d.lines, entries...)
		return nil
	}
	if m != nil && m.Style&yaml.FlowStyle != 0 {
		if len(m.Content) > 0 {
			return fmt.Errorf("line %d: %s is written in flow style {...}; rewrite it as an indented block so cl can edit it", mk.Line, mk.Value)
		}
		if err := d.dropFlowEmpty(m); err != nil {
			return err
		}
		m = nil
	}
	if m != nil && m.Kind == yaml.ScalarNode && m.ShortTag() == "!!null" && m.Value != "" {
		if err := d.replaceScalar(m, ""); err != nil {
			return err
		}
		d.lines[mk.Line-1] = strings.TrimRight(d.lines[mk.Line-1], " ")
	}
	if m != nil && m.Kind != yaml.MappingNode && !isNull(m) {
		return fmt.Errorf("line %d: %s is not a mapping", mk.Line, mk.Value)
	}
	ind := strings.Repeat(" ", childIndent(m, mk.Column, step))
	at := mk.Line // right after the key line
	if m != nil && m.Kind == yaml.MappingNode && len(m.Content) > 0 {
		at = d.blockEnd(mk.Line, mk.Column)
	}
	lines := make([]string, len(entries))
	for i, e := range entries {
		lines[i] = ind + e
	}
	d.insert(at, lines...)
	return nil
}

func (d *srcDoc) dropFlowEmpty(m *yaml.Node) error {
	line := d.lines[m.Line-1]
	i := m.Column - 1
	if i+2 > len(line) || line[i:i+2] != "{}" {
		return fmt.Errorf("line %d: cannot edit this flow mapping; rewrite it as a block", m.Line)
	}
	d.lines[m.Line-1] = strings.TrimRight(line[:i]+line[i+2:], " ")
	return nil
}

// removeEntry deletes key k (with its value block and the comment lines
// directly above it) from its mapping.
func (d *srcDoc) removeEntry(k *yaml.Node) {
	from := k.Line - 1
	for from > 0 {
		prev := d.lines[from-1]
		if strings.HasPrefix(strings.TrimSpace(prev), "#") && indentOf(prev) == k.Column-1 {
			from--
			continue
		}
		break
	}
	to := d.blockEnd(k.Line, k.Column)
	next := to
	for next < len(d.lines) && strings.TrimSpace(d.lines[next]) == "" {
		next++
	}
	if next < len(d.lines) && indentOf(d.lines[next]) == k.Column-1 {
		// A sibling follows: the blank lines after the entry go with it,
		// so no gap is left behind.
		to = next
	} else {
		// The last entry of its mapping: the blank lines after it separate
		// what follows and stay; those between it and the entry before it
		// go with it.
		for from > 0 && strings.TrimSpace(d.lines[from-1]) == "" {
			from--
		}
	}
	d.remove(from, to)
}

// entryEnd returns the index of the first line after the entry whose key
// is k, found from the document rather than from indentation: the line
// where the next node after the entry starts (a multi-line scalar's last
// line may be indented less than its key), with the blank and comment
// lines just before that node left to it.
func (d *srcDoc) entryEnd(k *yaml.Node) int {
	inside := map[*yaml.Node]bool{}
	var mark func(n *yaml.Node)
	mark = func(n *yaml.Node) {
		inside[n] = true
		for _, c := range n.Content {
			mark(c)
		}
	}
	var find func(n *yaml.Node)
	find = func(n *yaml.Node) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Kind == yaml.MappingNode && n.Content[i] == k {
				mark(k)
				mark(n.Content[i+1])
				return
			}
		}
		for _, c := range n.Content {
			find(c)
		}
	}
	next := len(d.lines)
	if d.root == nil {
		return next
	}
	find(d.root)
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if !inside[n] && n.Line > k.Line && n.Line-1 < next {
			next = n.Line - 1
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(d.root)
	for next > k.Line && isBlankOrComment(d.lines[next-1]) {
		next--
	}
	return next
}

// renderEntries renders entries as "key: value" lines with nested
// indentation. Keys are plain strings, quoted here when YAML needs it;
// values are rendered text (scalarText) or nested rendered lines.
func renderEntries(step int, kv ...any) ([]string, error) {
	var out []string
	for i := 0; i+1 < len(kv); i += 2 {
		key, err := keyText(kv[i].(string))
		if err != nil {
			return nil, err
		}
		switch v := kv[i+1].(type) {
		case []string: // nested, already rendered
			out = append(out, key+":")
			for _, l := range v {
				out = append(out, strings.Repeat(" ", step)+l)
			}
		default:
			out = append(out, fmt.Sprintf("%s: %v", key, v))
		}
	}
	return out, nil
}
