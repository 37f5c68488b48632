package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/mattn/go-isatty"
)

// Questions on a terminal.

// promptYes asks a yes/no question on a terminal; without one it returns
// false (never blocks a script).
func promptYes(a *App, question string, def bool) bool {
	f, ok := a.Stdin.(*os.File)
	if !ok || !isatty.IsTerminal(f.Fd()) {
		return false
	}
	fmt.Fprint(a.Stderr, question)
	line, err := bufio.NewReader(a.Stdin).ReadString('\n')
	if err != nil {
		return false
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "":
		return def
	case "y", "yes":
		return true
	}
	return false
}

func ask(a *App, in *bufio.Reader, q, def, yes string) bool {
	fmt.Fprint(a.Stderr, q)
	line, _ := in.ReadString('\n')
	ans := strings.ToLower(strings.TrimSpace(line))
	if ans == "" {
		ans = def
	}
	return ans == yes || ans == "yes"
}

func askString(a *App, in *bufio.Reader, what, def string) string {
	fmt.Fprintf(a.Stderr, "%s [%s]: ", what, def)
	line, _ := in.ReadString('\n')
	if v := strings.TrimSpace(line); v != "" {
		return v
	}
	return def
}
