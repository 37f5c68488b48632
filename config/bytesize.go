package config

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// ByteSize is a number of bytes written either as a whole number of bytes
// (65536) or with a binary unit: "512KiB", "4MiB", "1GiB" (KB, MB, GB and
// K, M, G are read as the same binary units).
type ByteSize int64

// Bytes returns the value as a number of bytes.
func (b ByteSize) Bytes() int64 { return int64(b) }

// String renders the size with the largest unit that divides it.
func (b ByteSize) String() string {
	for _, u := range byteUnits {
		if b != 0 && b%ByteSize(u.n) == 0 {
			return strconv.FormatInt(int64(b)/u.n, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// MarshalYAML renders the size as String does.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }

// MarshalJSON renders the size as String does.
func (b ByteSize) MarshalJSON() ([]byte, error) { return json.Marshal(b.String()) }

var byteUnits = []struct {
	name    string
	n       int64
	aliases []string
}{
	{"GiB", 1 << 30, []string{"gib", "gb", "g"}},
	{"MiB", 1 << 20, []string{"mib", "mb", "m"}},
	{"KiB", 1 << 10, []string{"kib", "kb", "k"}},
}

// ParseByteSize parses "4MiB"-style sizes and bare byte counts ("65536").
func ParseByteSize(s string) (ByteSize, error) {
	t, mult := splitUnit(strings.ToLower(strings.TrimSpace(s)))
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	return ByteSize(n * mult), nil
}

// splitUnit splits a lower-case size into its number and its unit's
// multiplier.
func splitUnit(t string) (string, int64) {
	for _, u := range byteUnits {
		for _, a := range u.aliases {
			if strings.HasSuffix(t, a) {
				return strings.TrimSpace(strings.TrimSuffix(t, a)), u.n
			}
		}
	}
	return strings.TrimSpace(strings.TrimSuffix(t, "b")), 1
}
