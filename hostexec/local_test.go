package hostexec

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

func TestLocalConformance(t *testing.T) {
	testHostConformance(t, &Local{KillGrace: 2e9})
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
