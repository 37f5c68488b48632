package config

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Limits that make hostile input fail fast instead of hanging or exhausting
// memory.
const (
	maxFileSize = 4 << 20 // bytes per file
	maxNodes    = 200_000 // nodes visited, counting alias expansions
	maxDepth    = 64
)

// decoder turns yaml nodes into the config model strictly: unknown keys,
// wrong types and duplicate keys are diagnostics, all collected in one pass.
type decoder struct {
	fileOf   func(*yaml.Node) string
	diags    *Diagnostics
	visited  int
	exceeded bool
	pos      map[string]Pos
	keyPos   map[string]Pos
	set      map[string]bool
}

func newDecoder(fileOf func(*yaml.Node) string, diags *Diagnostics) *decoder {
	return &decoder{fileOf: fileOf, diags: diags, pos: map[string]Pos{}, keyPos: map[string]Pos{}, set: map[string]bool{}}
}

func (d *decoder) at(n *yaml.Node) Pos {
	return Pos{File: d.fileOf(n), Line: n.Line, Col: n.Column}
}

func (d *decoder) errorf(n *yaml.Node, path, hint, format string, args ...any) {
	*d.diags = append(*d.diags, Diagnostic{Pos: d.at(n), Severity: SeverityError, Path: path, Message: fmt.Sprintf(format, args...), Hint: hint})
}

// enter counts a visited node; it returns false once the budget is spent.
func (d *decoder) enter(n *yaml.Node, path string, depth int) bool {
	d.visited++
	if d.exceeded {
		return false
	}
	if d.visited > maxNodes || depth > maxDepth {
		d.exceeded = true
		d.errorf(n, path, "remove the recursive or deeply nested anchors/aliases", "document is too large or too deeply nested after alias expansion (limit %d nodes, depth %d)", maxNodes, maxDepth)
		return false
	}
	return true
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

type pair struct{ key, value *yaml.Node }

// pairs returns a mapping's entries with YAML merge keys (<<) expanded:
// merged entries come first so that explicit keys override them.
func (d *decoder) pairs(n *yaml.Node, path string, depth int) []pair {
	var merged, own []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			srcs := []*yaml.Node{resolveAlias(v)}
			if srcs[0] != nil && srcs[0].Kind == yaml.SequenceNode {
				srcs = srcs[0].Content
			}
			for _, s := range srcs {
				s = resolveAlias(s)
				if s == nil || s.Kind != yaml.MappingNode {
					d.errorf(k, path, "merge only mappings: <<: *anchor", "merge key << needs a mapping or a list of mappings")
					continue
				}
				if !d.enter(s, path, depth+1) {
					return nil
				}
				merged = append(merged, d.pairs(s, path, depth+1)...)
			}
			continue
		}
		own = append(own, pair{k, v})
	}
	if len(merged) == 0 {
		return own
	}
	overridden := map[string]bool{}
	for _, p := range own {
		overridden[p.key.Value] = true
	}
	var out []pair
	seen := map[string]bool{}
	for _, p := range merged {
		if !overridden[p.key.Value] && !seen[p.key.Value] {
			seen[p.key.Value] = true
			out = append(out, p)
		}
	}
	return append(out, own...)
}

// mapDecodable is implemented by *Map[T] so the reflective decoder can fill it.
type mapDecodable interface {
	elemType() reflect.Type
	put(key string, v reflect.Value)
}

func (m *Map[T]) elemType() reflect.Type          { return reflect.TypeFor[T]() }
func (m *Map[T]) put(key string, v reflect.Value) { m.Set(key, v.Interface().(T)) }

var (
	durationType = reflect.TypeFor[Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
)

// decode fills v from n, recording positions under path.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string, depth int) {
	if !d.enter(n, path, depth) {
		return
	}
	if n.Kind == yaml.AliasNode {
		target := resolveAlias(n)
		if target == nil {
			d.errorf(n, path, "define the anchor before using it", "alias does not resolve to an anchor")
			return
		}
		d.decode(target, v, path, depth+1)
		if path != "" {
			d.pos[path] = d.at(n)
		}
		return
	}
	if path != "" {
		d.pos[path] = d.at(n)
		d.set[path] = true
	}
	if isNull(n) {
		return
	}
	if m, ok := v.Addr().Interface().(mapDecodable); ok {
		d.decodeMap(n, m, path, depth)
		return
	}
	if v.Type() == durationType {
		d.decodeDuration(n, v, path)
		return
	}
	if v.Type() == byteSizeType {
		d.decodeByteSize(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		d.decode(n, elem.Elem(), path, depth)
		v.Set(elem)
	case reflect.Struct:
		d.decodeStruct(n, v, path, depth)
	case reflect.Map:
		d.decodeGoMap(n, v, path, depth)
	case reflect.Slice:
		d.decodeSlice(n, v, path, depth)
	case reflect.Interface:
		v.Set(reflect.ValueOf(d.toAny(n, path, depth)))
	default:
		d.decodeScalar(n, v, path)
	}
}

func (d *decoder) expectKind(n *yaml.Node, path string, kind yaml.Kind, what, example string) bool {
	if n.Kind == kind {
		return true
	}
	d.errorf(n, path, "write it as "+example, "expected %s, got %s", what, describe(n))
	return false
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return fmt.Sprintf("the string %q", clip(n.Value))
		case "!!int":
			return "the number " + clip(n.Value)
		case "!!float":
			return "the number " + clip(n.Value)
		case "!!bool":
			return "the boolean " + n.Value
		}
		return "the scalar " + clip(n.Value)
	}
	return "an unsupported node"
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

func yamlKeys(t reflect.Type) (map[string]int, []string) {
	idx := map[string]int{}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		idx[tag] = i
		names = append(names, tag)
	}
	return idx, names
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string, depth int) {
	if !d.expectKind(n, path, yaml.MappingNode, "a mapping", "key: value lines indented under "+lastKey(path)) {
		return
	}
	idx, names := yamlKeys(v.Type())
	seen := map[string]*yaml.Node{}
	for _, p := range d.pairs(n, path, depth) {
		key := p.key.Value
		kp := join(path, key)
		if p.key.Kind != yaml.ScalarNode {
			d.errorf(p.key, path, "use a plain word as the key", "keys must be strings")
			continue
		}
		if prev, dup := seen[key]; dup && prev != p.key {
			d.errorf(p.key, kp, fmt.Sprintf("remove one of them (the first is at line %d)", prev.Line), "duplicate key %q", key)
			continue
		}
		seen[key] = p.key
		i, ok := idx[key]
		if !ok {
			hint := "valid keys here: " + strings.Join(names, ", ")
			if s := didYouMean(key, names); s != "" {
				hint = fmt.Sprintf("did you mean %q? valid keys here: %s", s, strings.Join(names, ", "))
			}
			where := path
			if where == "" {
				where = "the top level"
			}
			d.errorf(p.key, kp, hint, "unknown key %q in %s", key, where)
			continue
		}
		d.keyPos[kp] = d.at(p.key)
		d.decode(p.value, v.Field(i), kp, depth+1)
	}
}

func lastKey(path string) string {
	if i := strings.LastIndex(path, "."); i >= 0 {
		return path[i+1:] + ":"
	}
	if path == "" {
		return "the document"
	}
	return path + ":"
}

func (d *decoder) decodeMap(n *yaml.Node, m mapDecodable, path string, depth int) {
	if !d.expectKind(n, path, yaml.MappingNode, "a mapping of names", "name: followed by an indented block") {
		return
	}
	seen := map[string]*yaml.Node{}
	for _, p := range d.pairs(n, path, depth) {
		key := p.key.Value
		kp := join(path, key)
		if p.key.Kind != yaml.ScalarNode || key == "" {
			d.errorf(p.key, path, "use a plain name as the key", "names must be non-empty strings")
			continue
		}
		if prev, dup := seen[key]; dup && prev != p.key {
			d.errorf(p.key, kp, fmt.Sprintf("rename or remove one of them (the first is at line %d)", prev.Line), "duplicate name %q", key)
			continue
		}
		seen[key] = p.key
		d.keyPos[kp] = d.at(p.key)
		elem := reflect.New(m.elemType()).Elem()
		d.decode(p.value, elem, kp, depth+1)
		if elem.Kind() == reflect.Pointer && elem.IsNil() {
			elem.Set(reflect.New(elem.Type().Elem())) // "name:" with no body
		}
		if s := reflect.Indirect(elem); s.Kind() == reflect.Struct {
			if f := s.FieldByName("Name"); f.IsValid() && f.Kind() == reflect.String {
				f.SetString(key)
			}
		}
		m.put(key, elem)
	}
}

func (d *decoder) decodeGoMap(n *yaml.Node, v reflect.Value, path string, depth int) {
	if !d.expectKind(n, path, yaml.MappingNode, "a mapping", "key: value lines") {
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	seen := map[string]bool{}
	for _, p := range d.pairs(n, path, depth) {
		key := p.key.Value
		kp := join(path, key)
		if p.key.Kind != yaml.ScalarNode {
			d.errorf(p.key, path, "use a plain word as the key", "keys must be strings")
			continue
		}
		if seen[key] {
			d.errorf(p.key, kp, "remove one of them", "duplicate key %q", key)
			continue
		}
		seen[key] = true
		d.keyPos[kp] = d.at(p.key)
		elem := reflect.New(v.Type().Elem()).Elem()
		if elem.Kind() == reflect.String {
			// Map values such as tags accept any scalar and keep its text.
			d.pos[kp] = d.at(p.value)
			val := resolveAlias(p.value)
			if val == nil || val.Kind != yaml.ScalarNode || isNull(val) {
				d.errorf(p.value, kp, "write a single value, e.g. "+key+": production", "expected a scalar value, got %s", describeOrNull(val))
				continue
			}
			elem.SetString(val.Value)
		} else {
			d.decode(p.value, elem, kp, depth+1)
		}
		v.SetMapIndex(reflect.ValueOf(key), elem)
	}
}

func describeOrNull(n *yaml.Node) string {
	if isNull(n) {
		return "nothing"
	}
	return describe(n)
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string, depth int) {
	if !d.expectKind(n, path, yaml.SequenceNode, "a list", "lines starting with \"- \"") {
		return
	}
	s := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	for i, item := range n.Content {
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(item, elem, fmt.Sprintf("%s[%d]", path, i), depth+1)
		s = reflect.Append(s, elem)
	}
	v.Set(s)
}

func (d *decoder) decodeDuration(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!str" && n.ShortTag() != "!!int") {
		d.errorf(n, path, "write a duration like 30s, 10m or 1h, or whole seconds", "expected a duration, got %s", describe(n))
		return
	}
	dur, err := ParseDuration(n.Value)
	if err != nil {
		d.errorf(n, path, "write a duration like 30s, 10m or 1h, or whole seconds", "%v", err)
		return
	}
	v.SetInt(int64(dur))
}

func (d *decoder) decodeByteSize(n *yaml.Node, v reflect.Value, path string) {
	const hint = "write a size like 512KiB, 4MiB or 1GiB, or whole bytes"
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!str" && n.ShortTag() != "!!int") {
		d.errorf(n, path, hint, "expected a size, got %s", describe(n))
		return
	}
	b, err := ParseByteSize(n.Value)
	if err != nil {
		d.errorf(n, path, hint, "%v", err)
		return
	}
	v.SetInt(int64(b))
}

func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value, path string) {
	tag := n.ShortTag()
	bad := func(what, example string) {
		d.errorf(n, path, "write "+example, "expected %s, got %s", what, describe(n))
	}
	if n.Kind != yaml.ScalarNode {
		switch v.Kind() {
		case reflect.String:
			bad("a string", "a single value")
		case reflect.Int:
			bad("a whole number", "a number such as 4")
		case reflect.Bool:
			bad("true or false", "true or false")
		case reflect.Float64:
			bad("a number", "a number such as 300")
		}
		return
	}
	switch v.Kind() {
	case reflect.String:
		if tag != "!!str" {
			bad("a string", fmt.Sprintf("it in quotes: %q", n.Value))
			return
		}
		v.SetString(n.Value)
	case reflect.Int:
		if tag != "!!int" {
			bad("a whole number", "a number such as 4")
			return
		}
		i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
		if err != nil || i > math.MaxInt32 || i < math.MinInt32 {
			d.errorf(n, path, "use a smaller number", "number %s is out of range", clip(n.Value))
			return
		}
		v.SetInt(i)
	case reflect.Bool:
		if tag != "!!bool" {
			bad("true or false", "true or false")
			return
		}
		b, _ := strconv.ParseBool(strings.ToLower(n.Value))
		v.SetBool(b)
	case reflect.Float64:
		if tag != "!!int" && tag != "!!float" {
			bad("a number", "a number such as 300")
			return
		}
		f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
		if err != nil {
			bad("a number", "a number such as 300")
			return
		}
		v.SetFloat(f)
	default:
		d.errorf(n, path, "", "internal: unsupported field kind %s", v.Kind())
	}
}

// toAny converts a node into plain Go values (for task parameters), within
// the node budget.
func (d *decoder) toAny(n *yaml.Node, path string, depth int) any {
	if !d.enter(n, path, depth) {
		return nil
	}
	n = resolveAlias(n)
	if n == nil {
		return nil
	}
	d.pos[path] = d.at(n)
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for _, p := range d.pairs(n, path, depth) {
			m[p.key.Value] = d.toAny(p.value, join(path, p.key.Value), depth+1)
		}
		return m
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			out = append(out, d.toAny(c, fmt.Sprintf("%s[%d]", path, i), depth+1))
		}
		return out
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return n.Value
		}
		return v
	}
	return nil
}

// sortedKeys returns a map's keys in order, for stable messages.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
