package hostexec

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestLocalConformance(t *testing.T) {
	testHostConformance(t, &Local{KillGrace: 2e9})
}

// TestLocalExitWithoutReadingStdin: with a long KillGrace (and so a long
// WaitDelay), a command that exits without reading a stdin that blocks
// still ends Run at once; before, exec's own stdin copier held Wait until
// WaitDelay.
func TestLocalExitWithoutReadingStdin(t *testing.T) {
	testExitWithoutReadingStdin(t, &Local{KillGrace: time.Minute})
}

// TestLocalStdinReadFails: a stdin whose read fails stops the command
// (it never sees EOF) and Run returns the read error.
func TestLocalStdinReadFails(t *testing.T) {
	bad := io.MultiReader(strings.NewReader("partial"), errReader{errors.New("disk on fire")})
	res, err := (&Local{KillGrace: time.Second}).Run(context.Background(), Command{Line: "cat >/dev/null; echo got EOF", Stdin: bad})
	if err == nil || !strings.Contains(err.Error(), "read stdin: disk on fire") {
		t.Fatalf("res %+v err %v, want the read error", res, err)
	}
}

func TestLocalRejectsBadBecome(t *testing.T) {
	_, err := (&Local{Become: "doas"}).Run(context.Background(), Command{Argv: []string{"true"}})
	if err == nil || !strings.Contains(err.Error(), `unsupported become "doas"`) {
		t.Errorf("got %v", err)
	}
}

func TestLocalSudo(t *testing.T) {
	if _, err := exec.LookPath("sudo"); err != nil {
		t.Skip("sudo not installed")
	}
	var out strings.Builder
	res, err := (&Local{Become: BecomeSudo}).Run(context.Background(), Command{
		Line: `printf '%s %s' "$(id -u)" "$V"`, Env: map[string]string{"V": "kept"}, Stdout: &out})
	if err != nil || !res.OK() {
		t.Skipf("sudo -n not usable here: %v %+v", err, res)
	}
	if out.String() != "0 kept" {
		t.Errorf("got %q, want uid 0 and env kept through sudo", out.String())
	}
}

func TestInvalidCommands(t *testing.T) {
	for _, c := range []Command{
		{},
		{Argv: []string{"a"}, Line: "b"},
		{Argv: []string{""}},
		{Argv: []string{"A=b", "c"}},
		{Argv: []string{"echo", "a\x00b"}},
		{Line: "true", Env: map[string]string{"1X": "y"}},
		{Line: "true", Env: map[string]string{"X": "a\x00"}},
	} {
		if _, err := (&Local{}).Run(context.Background(), c); !errors.Is(err, ErrInvalidCommand) {
			t.Errorf("%#v: got %v, want ErrInvalidCommand", c, err)
		}
	}
}
