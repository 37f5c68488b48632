package signing

import (
	"strings"
	"testing"
	"time"
)

const edKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHJ1cXn4O6t3sXkD2D4Cq0B3pOE7N5ZSK+r4WgI6aS1q"

func TestParseAllowedSigners(t *testing.T) {
	in := strings.Join([]string{
		"# signers of the fleet",
		"",
		"alice@example.com,bob@example.com " + edKey + " alice laptop",
		`"carol smith" namespaces="git,cl-config",valid-after="20240101",valid-before="20250102030405Z" ` + edKey,
		`*@ops.example.com,!mallory@ops.example.com NAMESPACES="git" ` + edKey,
	}, "\n")
	got, err := ParseAllowedSigners([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d signers", len(got))
	}
	if got[0].Line != 3 || strings.Join(got[0].Principals, "|") != "alice@example.com|bob@example.com" || got[0].Namespaces != nil {
		t.Fatalf("line 3: %+v", got[0])
	}
	c := got[1]
	if c.Principals[0] != "carol smith" || strings.Join(c.Namespaces, "|") != "git|cl-config" {
		t.Fatalf("line 4: %+v", c)
	}
	if want := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC); !c.ValidBefore.Equal(want) {
		t.Fatalf("valid-before %v", c.ValidBefore)
	}
	if !c.ValidAfter.Equal(time.Date(2024, 1, 1, 0, 0, 0, 0, time.Local)) {
		t.Fatalf("valid-after %v (local time without Z)", c.ValidAfter)
	}
	if c.ValidAt(time.Date(2023, 6, 1, 0, 0, 0, 0, time.UTC)) || !c.ValidAt(time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)) || c.ValidAt(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatal("validity window")
	}
	ops := got[2]
	if !ops.MatchesPrincipal("eve@ops.example.com") || ops.MatchesPrincipal("mallory@ops.example.com") || ops.MatchesPrincipal("eve@example.com") {
		t.Fatal("principal patterns")
	}
	if !ops.AllowsNamespace("git") || ops.AllowsNamespace("cl-config") || !got[0].AllowsNamespace("cl-config") {
		t.Fatal("namespaces")
	}
}

func TestParseAllowedSignersErrors(t *testing.T) {
	for _, c := range []struct{ line, want string }{
		{"alice", "no public key"},
		{"alice cert-authority " + edKey, "cert-authority is not supported"},
		{`alice valid-before="2024" ` + edKey, "write YYYYMMDD"},
		{`alice valid-before=20240101 ` + edKey, "quote its value"},
		{`alice namespaces="" ` + edKey, "names no namespace"},
		{`alice restrict ` + edKey, `unknown option "restrict"`},
		{`alice namespaces="git ` + edKey, "unterminated quote"},
		{"alice ssh-ed25519 AAAA", "public key"},
		{",alice " + edKey, "empty principal"},
		{"alice " + edKey + " c\nbob ssh-rsa !!", "line 2"},
	} {
		_, err := ParseAllowedSigners([]byte(c.line))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.line, err, c.want)
		}
	}
}

func TestManifestDiffAndRoundTrip(t *testing.T) {
	a := Manifest{{"cl.yaml", "100644", strings.Repeat("a", 64)}, {"tasks/x", "100755", strings.Repeat("b", 64)}}
	b := Manifest{{"cl.yaml", "100644", strings.Repeat("c", 64)}, {"tasks/y", "100644", strings.Repeat("b", 64)}}
	ch, add, rm := b.Diff(a)
	if strings.Join(ch, ",") != "cl.yaml" || strings.Join(add, ",") != "tasks/y" || strings.Join(rm, ",") != "tasks/x" {
		t.Fatalf("changed %v added %v removed %v", ch, add, rm)
	}
	back, err := ParseManifest(a.Bytes())
	if err != nil || string(back.Bytes()) != string(a.Bytes()) {
		t.Fatalf("round trip: %v %v", back, err)
	}
}

// FuzzAllowedSigners: the parser never panics, and whatever it accepts
// has a key and principals, and reparses the same way.
func FuzzAllowedSigners(f *testing.F) {
	f.Add([]byte("alice " + edKey))
	f.Add([]byte(`"a b",c namespaces="git,cl-config",valid-after="20240101Z" ` + edKey + " comment\n# x\n"))
	f.Add([]byte(`*,!x valid-before="202401020304" ` + edKey))
	f.Add([]byte("a cert-authority " + edKey))
	f.Add([]byte(`a namespaces="` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseAllowedSigners(data)
		if err != nil {
			return
		}
		for _, s := range got {
			if s.Key == nil || len(s.Principals) == 0 {
				t.Fatalf("accepted a signer without key or principals: %+v", s)
			}
			s.MatchesPrincipal("alice@example.com")
			s.AllowsNamespace(ConfigNamespace)
		}
	})
}

// FuzzSignatureFile: whatever a signature file holds (armor, SSHSIG blob,
// manifest), checking it never panics and never accepts it: the fuzzer
// has no signing key.
func FuzzSignatureFile(f *testing.F) {
	signers, err := ParseAllowedSigners([]byte("ops " + edKey))
	if err != nil {
		f.Fatal(err)
	}
	p := &Policy{Signers: signers}
	f.Add([]byte("-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQ==\n-----END SSH SIGNATURE-----\ncl-config manifest v1\n100644 " + strings.Repeat("a", 64) + " cl.yaml\n"))
	f.Add([]byte("-----BEGIN SSH SIGNATURE-----\n-----END SSH SIGNATURE-----\n"))
	f.Add([]byte("cl-config manifest v1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		armored, manifest := SplitSignatureFile(data)
		if m, err := ParseManifest(manifest); err == nil {
			if back, err := ParseManifest(m.Bytes()); err != nil || len(back) != len(m) {
				t.Fatalf("a parsed manifest does not reparse: %v", err)
			}
		}
		if _, err := p.Check(strings.NewReader("message"), armored, ConfigNamespace, time.Now()); err == nil {
			t.Fatal("accepted a signature made without the key")
		}
	})
}
