package main

import (
	"fmt"
	"io"
	"log/slog"
)

func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// VersionCmd prints build information.
type VersionCmd struct{}

// Run prints the version.
func (VersionCmd) Run(a *App) error {
	if a.JSON() {
		return a.PrintJSON(map[string]string{"version": version, "commit": commit, "date": date})
	}
	fmt.Fprintln(a.Stdout, versionLine())
	return nil
}

// versionLine is what `cl version` and `cl --version` print.
func versionLine() string {
	return fmt.Sprintf("cl %s (commit %s, built %s)", version, commit, date)
}
