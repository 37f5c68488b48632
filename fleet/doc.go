// Package fleet owns blue-green fleets: `cl cluster create NEW --clone OLD`,
// `cl cluster switch NAME`, `cl cluster destroy NAME` and which fleet an
// ad-hoc task goes to.
//
// # Model
//
// A fleet is the set of hosts whose hosts.<name>.fleet names it (package
// config: Fleets, FleetHosts, Clone). Every fleet runs workers of the same
// roles (workers: is shared) but consumes its own queues: its hosts' queues
// and its role queues "role:<queue>@<fleet>" (queue.FleetQueue), so a run
// queued on one fleet is never taken by the other. Heartbeats, the applied
// state, the audit trail and the beat's state are shared by the namespace.
//
// One fleet is active: the beat fires schedules only to its hosts, and
// `cl task …` without --cluster goes to it. The active fleet is state in
// Redis (queue.FleetState, with a generation counter), not configuration,
// so a switch needs no commit and takes effect at once; until the first
// switch the active fleet is the first fleet in cl.yaml. The beat reads the
// generation before it plans a tick and its claim script checks it again
// in the same script that records the fire, so a tick is claimed for
// exactly one fleet: never fired twice or lost across a switch. Runs queued
// before a switch stay on their fleet's queues and finish there. Switch
// refuses a fleet the published schedule set has no host of, and waits for
// the running beats to report the switch (Beats, schedule.Switching).
//
// A configuration without fleets (no host sets fleet:) is one implicit
// fleet: queues, keys and routing are exactly as without this package.
//
// Not here: deploying a fleet (package deploy, with a host selection limited
// to the fleet), planning (package reconcile names each action's fleet).
package fleet
