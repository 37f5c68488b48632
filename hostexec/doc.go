// Package hostexec gets at a host: it runs commands, uploads files and
// reads files on this machine (Local) or on a machine reached over SSH (a
// Host from a Pool), and gathers a host's facts (GatherFacts).
//
// # What it owns, what it does not
//
// It owns the transports: SSH connections (known_hosts verification and
// its policies, key files, ssh-agent, passphrase prompts, jump hosts,
// keepalives, pooling and limits), local processes, safe quoting of
// commands for the remote shell, killing commands on cancel, atomic
// uploads, and the facts script.
//
// Its core (Target, Options, Pool, Local) does not know cl.yaml; one file,
// fromconfig.go, maps cl.yaml's ssh settings (ssh.default_user,
// ssh.default_key, ssh.timeout, a host's address/ssh.user/ssh.key/ssh.port,
// jump hosts, become, the host key policy) onto them and picks the local
// transport for hosts with connection: local (or a loopback address). It
// does not know releases, deploys, drift or tasks, which are built on Host by
// the packages above it.
//
// # The Host interface
//
// Host has four methods: Run, Upload, ReadFile, Close. A command that ran
// and exited non-zero is a Result, not an error; an error means the
// transport failed, ctx ended, or Stdin failed. A Command is either Argv
// (never interpreted by a shell) or Line (POSIX sh text); arguments are
// single-quoted for the remote shell (Quote), never spliced in unquoted.
//
// Env travels on the command line as `env K=V …` rather than as SSH "env"
// requests, because sshd drops every variable not listed in AcceptEnv and
// sudo resets the environment. Names must match [A-Za-z_][A-Za-z0-9_]*.
// The values are visible in the remote process list for the instant
// before the command execs: send secrets on Stdin.
//
// # SSH
//
// Transport is golang.org/x/crypto/ssh. A Pool keeps one long-lived
// client per target and runs at most Options.MaxSessionsPerHost sessions
// on it (8: sshd's MaxSessions defaults to 10, and killing a cancelled
// command needs a session too), caps concurrent connection attempts at
// Options.MaxHandshakes, dials once for concurrent users, reconnects a
// dead client (a session that cannot be opened on a dead connection is
// retried once on a new one), and sends keepalive@openssh.com every
// Options.KeepaliveInterval, closing the connection after
// KeepaliveCountMax unanswered periods so a dead host fails runs in flight
// with ErrConnLost instead of hanging.
//
// ConnectTimeout bounds each hop's TCP dial and SSH handshake:
// ClientConfig.Timeout covers only the dial, so the handshake gets a
// deadline on the connection and, for jump-host channels that do not
// support deadlines, the connection is closed when the time is up.
//
// Host keys are checked against Options.KnownHostsFile at every hop
// (golang.org/x/crypto/ssh/knownhosts; plain, hashed and @revoked entries
// work). Strict refuses unknown hosts; AcceptNew records an unknown host's
// key (under a process-wide mutex and an flock on the file, re-reading it
// first, so concurrent first contacts write one line) and enforces it from
// then on. A key that differs from the recorded ones is refused under
// every policy. ClientConfig.HostKeyAlgorithms is narrowed to the key
// types known_hosts holds for the host, so a host known by its ECDSA key
// is not asked for its Ed25519 key and wrongly refused; when known_hosts
// has @cert-authority lines the library default is kept. Refusals are
// *HostKeyError values naming the host, the offered key's type and
// SHA256 fingerprint, and the fix (an ssh-keyscan command, accept-new,
// or ssh-keygen -R).
//
// Keys offered, in order: each configured key file (a passphrase-protected
// one is taken from ssh-agent when the agent holds it, else decrypted
// after Options.PassphrasePrompt, else refused with a message saying to
// ssh-add it), then the agent's other keys when Options.Agent is set.
// Errors and logs name key files and the agent socket, never key material
// or passphrases.
//
// Connection failures wrap one of ErrRefused, ErrTimeout, ErrUnreachable,
// ErrAuthFailed, ErrHostKeyUnknown, ErrHostKeyMismatch, ErrConnLost;
// Reason turns an error into a short word for status output.
//
// # The connection mux
//
// With Options.Mux set, a Pool gets its connections through a mux (mux.go,
// muxserve.go): one background process per user and build that holds the
// SSH connections of short-lived cl commands for Mux.Persist, as OpenSSH's
// ControlPersist does. The mux dials with the options the client sends and
// relays its failures with the same reason and message; the client then
// speaks SSH to the mux over the unix socket and the mux relays channels
// to the host. The mux runs at most 9 channels at once per host
// connection, reuses an idle connection only after a keepalive answer and
// while known_hosts and the key files are unchanged, and trusts only
// clients of its own user id (SO_PEERCRED, a 0700 directory). When no mux
// can be reached or started, or for errors the client must reproduce
// (reading keys, prompting), the Pool dials directly.
//
// # Killing a remote command on cancel
//
// A signal request alone is not enough: OpenSSH only handles it since
// 7.9, and even then refuses it in sessions that are not privilege
// separated — every root login (OpenSSH 9.2 logs "session signalling
// requires privilege separation"; the real-sshd test shows it). A pty
// would make the command die with the channel, but it merges stderr into
// stdout and mangles binary stdin and output. So remote commands are
// wrapped instead: the login shell execs `/bin/sh -c` with a script that
// prints its PID on stderr (`cl-pgid=N`, stripped by the client) and then
// execs the command; a command that is itself a `/bin/sh -c` script (most
// are) runs in that shell instead, with its own arguments, which saves an
// exec per command on every host. sshd makes every session a new session and process
// group, and exec keeps the PID, so N is the command's process group.
// On cancel the client sends the signal request (TERM) and, from a second
// session, runs `kill -s TERM -- -N` (through sudo for become targets);
// after Options.KillGrace, KILL the same two ways, then it closes the
// session. Each mechanism is tested on its own; the group kill against a
// real sshd. What this cannot do is kill commands when the connection is
// already gone: they run on until they end (or write to their closed
// output).
//
// # Uploads
//
// Upload streams into `<dir>/.<base>.tmp-<random>` with `cat` over an SSH
// session (created with umask 077 and noclobber), then chmods, syncs and
// `mv -f`s it over the destination, which is atomic within a file
// system; on any failure, including the reader failing midway, the
// temporary file is removed and the destination is untouched. Uploads are
// ordinary commands rather than go-scp because then Become applies the
// same way (`sudo -n -- sh -c …`), no scp binary or protocol quirks are
// needed on the host, the input is never mistaken for complete when the
// reader fails (stdin is not closed; the command is killed), and the
// remote errors are plain stderr text.
//
// # Local
//
// Local runs commands with os/exec, each in its own process group; on
// cancel the group gets SIGTERM and, KillGrace later, SIGKILL. A program
// that cannot be started is reported as a shell would (exit 127/126), so
// Local and SSH hosts behave alike; one conformance suite runs against
// Local, the in-process test SSH server and a real sshd.
//
// Package hostexec is for Unix control hosts (it uses process groups and
// flock).
package hostexec
