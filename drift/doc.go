// Package drift observes hosts: whether they can be reached (and if not,
// why: refused, timeout, auth failed, host key unknown, output too large,
// ...), what their host key check said, the release their `current` link
// points to, the state of the worker's systemd unit, the release their
// worker's heartbeat reports, and their facts (OS, kernel, arch, CPUs,
// memory, free disk, clock skew); with Verify, the files of the live
// release checked against its manifest.
//
// The manifest check hashes only the files whose identity (inode, size,
// mtime, ctime, as GNU stat prints them) differs from the one deploy
// recorded in the release's .celeroot/stat after staging it: no user can
// set a ctime back, so an unchanged identity means unchanged content. A
// missing, unreadable, foreign or malformed record, or a stat without the
// format, hashes every file. The record adds no trust: the check's
// reference is the manifest on the host, which whoever can change the
// release's files can rewrite as well, with the record.
//
// Compare turns observations, what was applied to each host and what HEAD
// wants into a Report: per host, findings (release, worker running,
// enabled, release and role, worker configuration, files, unreachable)
// classed drift (changed outside celeroot), pending (an intended change not
// applied yet) or unknown (not observed), and workers heartbeating for
// hosts not in cl.yaml. It is pure; repairing is package agent's.
//
// Observe is the one probe: deploy's Check (`cl host deploy --check`),
// `cl host status` (Probe, Observe with facts), discover's verdict and the
// agent's plan all use it. It runs one command per host (a short script,
// with hostexec.FactsScript appended when facts are asked), its output
// capped at MaxObserveOutput; heartbeats come from a Heartbeats source
// (queue.Queue) declared here.
//
// It reaches hosts only through hostexec (an Opener such as
// hostexec.Connector, or an OpenerFunc) and reports plain data
// (Observation, HostStatus) that commands print as a table or JSON and
// that the agent will record. It does not deploy, and imports neither
// deploy nor discover.
package drift
