package secrets

import (
	"errors"
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	vals := map[string]string{"db#password": "pw1", "api": "tok", "kv/app#user@3": "u3", "a.b_c-d": "x"}
	lookup := func(r Ref) (string, error) {
		v, ok := vals[r.Label()]
		if !ok {
			return "", errors.New("unknown " + r.Label())
		}
		return v, nil
	}
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"", ""},
		{"${secret:db#password}", "pw1"},
		{"pre-${secret:api}-post", "pre-tok-post"},
		{"${secret:api}${secret:api}", "toktok"},
		{"${secret:kv/app#user@3}", "u3"},
		{"${secret:a.b_c-d}", "x"},
		{"$${secret:api}", "${secret:api}"},
		{"$$ and ${other} stay", "$$ and ${other} stay"},
		{"${SECRET:api}", "${SECRET:api}"}, // not a reference: case matters
	} {
		got, err := Expand(tc.in, lookup)
		if err != nil || got != tc.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestExpandHostile: malformed references are errors, never passed on as
// text, and lookup is never called with a name outside the grammar.
func TestExpandHostile(t *testing.T) {
	for _, in := range []string{
		"${secret:",
		"${secret:db",
		"${secret:}",
		"${secret:#key}",
		"${secret:db#}",
		"${secret:db@}",
		"${secret:db#k@}",
		"${secret:${secret:db}}",
		"${secret:db${secret:x}}",
		"${secret:$(id)}",
		"${secret:`id`}",
		"${secret:db; rm -rf /}",
		"${secret:db\n#x}",
		"${secret:../etc/passwd}",
		"${secret:a/../../b}",
		"${secret:/etc/shadow}",
		"${secret:a//b}",
		"${secret:a/./b}",
		"${secret:db#k'x}",
		"${secret:db#k@1 2}",
		"${secret:db#k#j}",
		"${secret:" + strings.Repeat("a", 600) + "}",
		"ok ${secret:api} then ${secret:",
	} {
		called := false
		_, err := Expand(in, func(r Ref) (string, error) {
			if strings.ContainsAny(r.Name, "$`;\n' ") || strings.Contains(r.Name, "..") {
				t.Errorf("%q: lookup called with %q", in, r.Name)
			}
			called = true
			return "v", nil
		})
		var re *RefError
		if !errors.As(err, &re) {
			t.Errorf("Expand(%q) = %v (called %v), want a RefError", in, err, called)
			continue
		}
		if !strings.Contains(err.Error(), "${secret:NAME}") {
			t.Errorf("error does not say how to write one: %v", err)
		}
	}
}

func TestRefs(t *testing.T) {
	refs, err := Refs("a ${secret:x#k@AWSPREVIOUS} b $${secret:y} ${secret:z}")
	if err != nil || len(refs) != 2 || refs[0] != (Ref{Name: "x", Key: "k", Version: "AWSPREVIOUS"}) || refs[1].Name != "z" {
		t.Fatalf("Refs = %+v, %v", refs, err)
	}
	if refs[0].Label() != "x#k@AWSPREVIOUS" || refs[0].String() != "${secret:x#k@AWSPREVIOUS}" {
		t.Errorf("label %q string %q", refs[0].Label(), refs[0].String())
	}
}

func TestUses(t *testing.T) {
	if u, err := Uses(map[string]any{"n": 3, "s": "plain"}, map[string]string{"A": "b"}); u || err != nil {
		t.Errorf("no refs: %v %v", u, err)
	}
	if u, err := Uses(map[string]any{"s": "${secret:x}"}, nil); !u || err != nil {
		t.Errorf("param ref: %v %v", u, err)
	}
	if _, err := Uses(nil, map[string]string{"A": "${secret:x"}); err == nil || !strings.Contains(err.Error(), "env A") {
		t.Errorf("bad env ref: %v", err)
	}
}
