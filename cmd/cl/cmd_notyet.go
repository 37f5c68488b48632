package main

import "fmt"

// notYet lists the commands of the seed's command surface that cl does not
// have yet. Each becomes a hidden command that says so and points to the
// docs, instead of kong's "unexpected argument". Delete a name here in the
// commit that adds the real command.
var notYet = []string{"audit"}

// notYetCmd stands in for a command in notYet; it takes any arguments and
// flags so that `cl plan --out x` gets the same answer.
type notYetCmd struct {
	name string
	Args []string `arg:"" optional:"" passthrough:"all"`
}

// Run says the command does not exist yet (exit 1).
func (c *notYetCmd) Run(a *App) error {
	fmt.Fprintf(a.Stderr, "cl %s is not available yet; see docs/cli.md\n", c.name)
	return silentExit(ExitError)
}
