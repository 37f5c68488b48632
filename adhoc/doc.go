// Package adhoc runs one plain command on many hosts at once over SSH:
// `cl host exec`. It is the tool for hosts whose worker is down, so it
// needs nothing but the hosts' SSH access (no Redis, no worker, no
// release).
//
// # What it owns, what it does not
//
// It owns the fan-out (a bounded number of hosts at once, a deadline per
// host that kills the remote command), the output (streamed line by line
// with a "host | " prefix, whole lines only so hosts never interleave
// within a line, or grouped per host and printed when the host is done),
// and the report: each host's exit code, signal, duration, the reason it
// could not run (unreachable, refused, host key, timed out), a summary
// table and a JSON form.
//
// It does not speak SSH: hosts come from an Opener (hostexec.Connector:
// strict host keys, keys, jump hosts, pooling), and the command travels as
// hostexec.Command.Argv, each word single-quoted for the remote shell by
// hostexec, never spliced into shell text. It does not pick hosts (the
// caller resolves cl.yaml's selection) nor write the audit record.
package adhoc
