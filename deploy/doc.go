// Package deploy puts releases of the config repository on hosts: it
// builds a release from a commit, syncs it to each host as a delta,
// switches the host's `current` link, restarts the worker, checks its
// health and rolls back when it is not healthy; it rolls a release out to
// many hosts by strategy, holds the deploy lock in Redis, and adds and
// removes hosts (`cl host add/remove`). cmd/cl and the GitOps agent call
// it as a library; every operation returns a plain-data report.
//
// It does not own the transports (package hostexec), observing hosts
// (package drift), the heartbeats (package queue), the worker (package worker), git (package sync) or
// cl.yaml edits (package config); the fallback supervisor is its subpackage supervise.
//
// # Releases
//
// A Release is the directory holding cl.yaml (its whole git tree: tasks/,
// environments/, everything tracked) at one commit (FromCommit, FromTree),
// named by the commit's full SHA. deploy does not import git: it reads
// the tree through the Repo interface, and commits the registration of
// `cl host add` and `cl host remove` through Committer, both implemented
// by package sync's WorkTree, which cmd/cl opens and hands in.
// FromWorkTree refuses uncommitted changes unless allowed; the version of
// a dirty release is <sha>-dirty-<12 hex digits of the hash of the
// changed paths and their content>. Paths that are absolute, have "." or ".." components or
// control characters, and symbolic links that point outside the tree (or
// climb with ".." after a name) are refused; bin/cl and .celeroot/ are
// reserved.
//
// A host receives its HostRelease: the tree, bin/cl for the host's
// platform (Binaries: $CL_DIST/cl_<os>_<arch>/cl, this executable when
// the platform matches, ./dist/cl_<os>_<arch>/cl as `make dist` writes
// it) and .celeroot/worker.yaml (host, role, cluster, env), listed in
// .celeroot/manifest: one line per file with path, git-style mode, size,
// sha256 and, for links, the target. Once a release is staged (and the
// older ones pruned), the host library records each regular file's
// identity (inode, size, mtime, ctime) in .celeroot/stat, for the drift
// check (package drift) to hash only files changed since; files it cannot
// vouch for are left out.
//
// # On the host
//
//	<target>/releases/<version>/   one directory per release, never changed once in place
//	<target>/current -> releases/<version>
//	<target>/.celeroot/lib-<hash>.sh   the host side of deploys (hostlib.sh), by content
//
// Every host-side operation is one SSH command running the library with
// arguments as argv (nothing is spliced into shell text): probe (platform,
// current release, its manifest, whether the new one is already there),
// stage, activate (switch and restart), deactivate, prune; probestage
// runs the probe and then stage in one session, cl writing stage's
// arguments and the tar on its stdin once it has read the probe
// (probestage.go: ready and end markers with a random token). stage builds
// releases/.stage-<version>-<pid>/ and renames it into place only when it
// is complete, so an interrupted deploy leaves at most a staging directory
// (removed by the next deploy), never a half-made release, let alone a
// current one. activate points a temporary link at the release and renames
// it over current (mv -T): atomic.
//
// # Delta sync
//
// Diff compares the new manifest with the current release's: unchanged
// files (same content, mode and size) are hard-linked from the current
// release on the host; new and changed files travel in one tar stream over
// the SSH session's stdin (gzip'd when the host has gzip and the payload
// is 16 KiB or more; big files such as
// bin/cl are compressed once per deploy and shared by all hosts); the
// manifest travels as the lines of the sent files and is merged with the
// kept lines on the host and checked against its sha256 (the whole
// manifest is sent when the host has no sha256sum or the merge does not
// match). A one-file change sends that file, two short control files and
// the command lines. Why a tar stream rather than scp or SFTP: see
// docs/deploy.md.
//
// # Per host
//
// connect, probe, transfer (which also prunes to deployment.keep_releases,
// never the new release or current), setup (deployment.setup_command in the new
// release directory, before the switch, with deployment.setup_timeout),
// service (systemd: the unit deployment.service_name, daemon-reload,
// enable; otherwise the state directory of `cl supervise`), switch (and
// restart: systemctl restart, deployment.restart_command, or `cl
// supervise restart`), health (a worker started after the restart
// heartbeats the new version, then deployment.health_check_url answers 2xx
// on the host, all within deployment.health_timeout). A host
// that fails before the switch keeps its old release; one that fails after
// it is switched back, restarted and checked to report the old version
// again, with the worker's last log lines in the report.
//
// Every output read back from a host is capped (hostexec.Command.MaxStdout):
// the probe, which carries the current manifest, at 64 MiB; prerequisites,
// stage and clean-up at 1 MiB; log and health output keep only their tail.
// A host past a cap fails its step with an error naming host, command and
// cap.
//
// Check (`cl host deploy --check`) does not look at hosts itself: it
// compares drift.Observe's current release and heartbeat with the wanted
// release. Heartbeats is drift's interface.
//
// # Rollouts
//
// Engine.Deploy runs strategy all (every host, up to Options.Parallel at
// once), rolling (batches of N or N% of the hosts) or canary (the first N,
// then the rest), and stops starting hosts once more than max_fail have
// failed; with RollbackOnFailure the hosts it updated go back too. A
// cancelled context stops the rollout: hosts not started are cancelled,
// hosts in flight keep or get back their old release.
package deploy
