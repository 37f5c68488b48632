package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/secrets"
)

// SecretsCmd is `cl secrets`: the age-encrypted secrets kept in the
// configuration repository (secrets.provider: age).
type SecretsCmd struct {
	Encrypt SecretsEncryptCmd `cmd:"" help:"Encrypt stdin (or --in FILE) to secrets/NAME.age for the recipients in cl.yaml."`
	Decrypt SecretsDecryptCmd `cmd:"" help:"Print the plaintext of secrets/NAME.age (or one key of it) with the age identity."`
	Edit    SecretsEditCmd    `cmd:"" help:"Decrypt secrets/NAME.age to a 0600 temporary file, run $EDITOR, re-encrypt atomically."`
}

// SecretsEncryptCmd is `cl secrets encrypt NAME`.
type SecretsEncryptCmd struct {
	Name string `arg:"" help:"The secret's name, as in $${secret:NAME}."`
	In   string `type:"existingfile" placeholder:"FILE" help:"Read the plaintext from FILE instead of stdin."`
}

// SecretsDecryptCmd is `cl secrets decrypt NAME`.
type SecretsDecryptCmd struct {
	Name string `arg:"" help:"The secret's name."`
	Key  string `placeholder:"KEY" help:"Print only this key of a JSON or YAML secret, as $${secret:NAME#KEY} would give it."`
}

// SecretsEditCmd is `cl secrets edit NAME`.
type SecretsEditCmd struct {
	Name string `arg:"" help:"The secret's name (a new one starts empty)."`
}

func (c *SecretsEncryptCmd) Run(a *App) error {
	cfg, err := ageConfig(a)
	if err != nil {
		return err
	}
	var in io.Reader = a.Stdin
	if c.In != "" {
		f, err := os.Open(c.In)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	data, err := io.ReadAll(io.LimitReader(in, 1<<20+1))
	if err != nil {
		return fmt.Errorf("read the plaintext: %w", err)
	}
	if len(data) > 1<<20 {
		return errors.New("cl secrets encrypt: the plaintext is over 1 MiB: secrets are small (keep files elsewhere)")
	}
	path, err := secrets.Encrypt(cfg, c.Name, data)
	if err != nil {
		return err
	}
	return printSecretFile(a, path, "encrypted")
}

func (c *SecretsDecryptCmd) Run(a *App) error {
	cfg, err := ageConfig(a)
	if err != nil {
		return err
	}
	if c.Key == "" {
		pt, err := secrets.Decrypt(cfg, c.Name)
		if err != nil {
			return err
		}
		_, err = a.Stdout.Write(pt)
		return err
	}
	p, err := secrets.Open(cfg)
	if err != nil {
		return err
	}
	v, err := secrets.Lookup(a.Ctx, p, secrets.Ref{Name: strings.TrimSuffix(c.Name, secrets.AgeExt), Key: c.Key})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(a.Stdout, v)
	return err
}

func (c *SecretsEditCmd) Run(a *App) error {
	cfg, err := ageConfig(a)
	if err != nil {
		return err
	}
	editor := strings.Fields(os.Getenv("VISUAL"))
	if len(editor) == 0 {
		editor = strings.Fields(os.Getenv("EDITOR"))
	}
	path, err := secrets.Edit(a.Ctx, cfg, c.Name, secrets.EditOptions{Editor: editor, Stdin: os.Stdin, Stdout: os.Stderr, Stderr: os.Stderr})
	if errors.Is(err, secrets.ErrUnchanged) {
		fmt.Fprintf(a.Stderr, "cl secrets edit: %s unchanged\n", path)
		return nil
	}
	if err != nil {
		return err
	}
	return printSecretFile(a, path, "re-encrypted")
}

// ageConfig loads cl.yaml and checks that it keeps age-encrypted secrets.
func ageConfig(a *App) (*config.Config, error) {
	cfg, err := a.LoadConfig()
	if err != nil {
		return nil, err
	}
	if p := cfg.Secrets.Provider; p != "age" {
		return nil, fmt.Errorf("cl secrets works on age-encrypted files: secrets.provider is %q; set secrets.provider: age and secrets.recipients (docs/security.md#secrets)", p)
	}
	return cfg, nil
}

func printSecretFile(a *App, path, verb string) error {
	if a.JSON() {
		return a.PrintJSON(map[string]string{"file": path})
	}
	fmt.Fprintf(a.Stdout, "%s %s\nnext: commit it (it is ciphertext; the plaintext was not written to disk)\n", verb, path)
	return nil
}
