// Package devfleet is `cl dev`: the GitOps agent driving a fleet that lives
// in this process. It keeps a local git copy of a config directory (Repo),
// runs the agent (package agent) on that repository, and gives it a Fleet
// whose hosts are in-process workers: deploying host H to a commit exports
// the tree at that commit into <state>/hosts/H/releases/<sha>, points
// <state>/hosts/H/current at it and restarts H's worker on the
// configuration of that tree, whose heartbeat then reports the SHA;
// observing H reads its `current` and its heartbeat. Schedules reach the
// in-process beat through schedule.Publish, as on a real fleet. Plans,
// drift, the applied state and the agent's status therefore behave as they
// do with `cl agent` and SSH hosts.
//
// It owns no outside system: the embedded Redis is queue/embedded's, git
// is package sync's. Hosts without a loopback address (or connection:
// local) get no worker: the Fleet reports them unreachable and fails their
// deploys.
package devfleet
