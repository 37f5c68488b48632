package secrets

import (
	"bytes"
	"strings"
	"testing"
)

func TestMaskerString(t *testing.T) {
	m := NewMasker("hunter2", "", "hunter2-long")
	if got := m.String("a hunter2-long b hunter2 c"); got != "a *** b *** c" {
		t.Errorf("got %q", got)
	}
	var zero *Masker
	if zero.String("x") != "x" || !zero.Empty() {
		t.Error("nil masker changes text")
	}
	pem := "-----BEGIN KEY-----\nAAAAline1\nBBBBline2\nx\n-----END KEY-----"
	m = NewMasker(pem)
	if got := m.String("dump: BBBBline2 and x"); got != "dump: *** and x" {
		t.Errorf("a line of a multi-line value: %q", got)
	}
}

// TestMaskWriterSplit: a value split across writes, and across the
// 64 KiB hold of a line without newline, is masked.
func TestMaskWriterSplit(t *testing.T) {
	const secret = "s3cr3t-value-xyz"
	var out bytes.Buffer
	w := NewMasker(secret).Writer(&out)
	input := "start " + secret + " middle\n" + secret[:5]
	for i := 0; i < len(input); i++ {
		w.Write([]byte{input[i]})
	}
	w.Write([]byte(secret[5:] + " end\nno newline " + secret))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "s3cr3t") || strings.Count(out.String(), Mask) != 3 {
		t.Errorf("out = %q", out.String())
	}

	out.Reset()
	w = NewMasker(secret).Writer(&out)
	long := strings.Repeat("a", maskHold-3)
	w.Write([]byte(long))
	w.Write([]byte(secret[:8]))
	w.Write([]byte(secret[8:] + "tail"))
	w.Flush()
	if strings.Contains(out.String(), "s3cr3t") || !strings.HasSuffix(out.String(), Mask+"tail") || len(out.String()) != len(long)+len(Mask)+4 {
		t.Errorf("long line: %d bytes, suffix %q", out.Len(), out.String()[out.Len()-30:])
	}
}
