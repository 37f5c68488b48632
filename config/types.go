package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Map is a string-keyed map that remembers the order of its keys as written
// in the file, so that listings and rendered output follow the file.
type Map[T any] struct {
	keys  []string
	items map[string]T
}

// Keys returns the keys in file order.
func (m *Map[T]) Keys() []string { return m.keys }

// Len returns the number of entries.
func (m *Map[T]) Len() int { return len(m.keys) }

// Get returns the entry for key.
func (m *Map[T]) Get(key string) (T, bool) {
	v, ok := m.items[key]
	return v, ok
}

// Set adds or replaces an entry; a new key goes last.
func (m *Map[T]) Set(key string, v T) {
	if m.items == nil {
		m.items = map[string]T{}
	}
	if _, ok := m.items[key]; !ok {
		m.keys = append(m.keys, key)
	}
	m.items[key] = v
}

// Values returns the entries in file order.
func (m *Map[T]) Values() []T {
	out := make([]T, 0, len(m.keys))
	for _, k := range m.keys {
		out = append(out, m.items[k])
	}
	return out
}

// MarshalJSON renders the entries in file order.
func (m Map[T]) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range m.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(m.items[k])
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// MarshalYAML renders the entries in file order.
func (m Map[T]) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, k := range m.keys {
		var v yaml.Node
		if err := v.Encode(m.items[k]); err != nil {
			return nil, err
		}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, &v)
	}
	return n, nil
}

// Duration is a time.Duration written either as a Go duration string
// ("30s", "10m", "1h30m") or as a whole number of seconds (30).
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalYAML renders the duration as a Go duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalJSON renders the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// ParseDuration parses "30s"-style strings and bare seconds ("30").
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("negative duration %q", s)
		}
		return Duration(time.Duration(n) * time.Second), nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return Duration(v), nil
}
