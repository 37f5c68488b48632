package main

import (
	"fmt"
	"os"

	"golang.org/x/term"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/hostexec"
)

// sshOptions maps cl.yaml's ssh section onto transport options and, on a
// terminal, lets passphrase-protected keys be unlocked by a prompt (without
// one they must be in the ssh-agent).
func sshOptions(a *App, cfg *config.Config) hostexec.Options {
	opts := hostexec.OptionsFor(cfg, a.Log)
	opts.Mux = muxFor(a, cfg)
	if f, ok := a.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		opts.PassphrasePrompt = func(keyFile string) ([]byte, error) {
			fmt.Fprintf(a.Stderr, "passphrase for %s: ", keyFile)
			pw, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(a.Stderr)
			return pw, err
		}
	}
	return opts
}

// newConnector opens hosts of cfg with sshOptions.
func newConnector(a *App, cfg *config.Config) (*hostexec.Connector, error) {
	return hostexec.NewConnector(cfg, sshOptions(a, cfg))
}
