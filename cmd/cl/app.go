package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"github.com/alecthomas/kong"

	"github.com/celeroot/celeroot/config"
)

// App is what every command's Run receives: the parsed globals and the
// process's streams.
type App struct {
	*Globals
	Ctx    context.Context
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Log    *slog.Logger
	model  *kong.Application
}

// JSON reports whether output should be JSON.
func (a *App) JSON() bool { return a.Output == "json" }

// IsTTY reports whether stdout is a terminal.
func (a *App) IsTTY() bool { return isTerminal(a.Stdout) }

// PrintJSON writes v as indented JSON.
func (a *App) PrintJSON(v any) error {
	enc := json.NewEncoder(a.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// LoadOptions says where the configuration is.
func (a *App) LoadOptions() config.Options {
	return config.Options{Path: a.ConfigPath, Env: a.Env}
}

// LoadConfig loads a valid configuration, printing warnings to stderr.
func (a *App) LoadConfig() (*config.Config, error) {
	cfg, warns, err := config.LoadValid(a.LoadOptions())
	if err != nil {
		return nil, err
	}
	a.Env = cfg.Source.Env
	for _, w := range warns {
		fmt.Fprintln(a.Stderr, w.String())
	}
	return cfg, nil
}
