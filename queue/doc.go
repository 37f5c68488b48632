// Package queue is celeroot's one owner of Redis: the connection (Open, a
// redis.url), the key namespace and every script. It keeps the task runs
// (enqueue, claim, leases, retries, dead runs, results, logs, kills), the
// worker heartbeats, the one fenced lease that the beat leader and the
// deploy lock use (Lease), the beat's state (BeatStore: cursors, fire
// claims, the published schedule set, members) and namespace snapshots
// (Snapshot, Restore). No other package imports go-redis (a test in package
// layering enforces it); they call this API or declare a small interface
// that *Queue implements (deploy.Locker, schedule's store). It works
// the same on a single redis-server, behind Redis Sentinel, on Redis Cluster
// and on the embedded miniredis of `cl dev` (package queue/embedded).
//
// It owns the data and its state machine, not the execution: running a task
// (subprocess, timeout, parameters, which modules a role loads) is package
// worker's job; firing schedules is package schedule's, which calls Enqueue
// with an idempotency key per tick.
//
// # Model
//
// A Run is one execution request of a task on a target queue, either a host
// queue "host:<name>" (HostQueue) or a role queue "role:<name>" (RoleQueue).
// Each queue is a Redis stream with one consumer group ("workers"); the
// consumer name is the worker's host name. A run moves through
//
//	queued ─► running ─► succeeded | failed | killed | dead
//	             │  ▲
//	             ▼  │  after base·2^attempt (capped)
//	           retrying
//
// and every move is one Lua script on the keys of the run's queue, so each
// is atomic: a run is started by one worker at a time, recorded succeeded at
// most once, and never started again once terminal.
//
//   - Enqueue stores the run record and XADDs its id to the stream, in one
//     round trip (the run → queue pointer, the queue index and the script
//     go in one pipeline); EnqueueMany does a whole batch in one round trip,
//     and Enqueue calls made at once by many goroutines share round trips
//     (up to four pipelines on the wire, the rest wait and go together).
//     With an idempotency key the script first checks the key: a second
//     Enqueue with the same key (per queue, within the run TTL) enqueues
//     nothing and returns the first run's id. An enqueue that go-redis
//     repeats after a broken connection finds its own run and reports it.
//   - Claim reads new entries (XREADGROUP ">", with the due retries in the
//     same round trip) and starts all of them in one script call: state
//     running, a new fencing token each, a lease key with a TTL
//     (WithLeaseTTL). A killed run that comes back (its worker died or
//     handed it back before it reacted to the kill) is finished as killed
//     instead. Waiting for work is one blocking read of all the queues (on
//     Cluster, one queue after the other), abandoned at once when the
//     caller's context ends. ClaimNow reads several queues in one round
//     trip; ClaimWait only waits. Both take the results waiting in a
//     Completer along in the round trip that starts the new runs.
//   - Renew, called by the worker every third of the lease for all its
//     in-flight runs in one pipelined round trip, extends the leases, and
//     reports runs lost (taken over) or killed.
//   - Complete records the result, deletes the lease and XACKs+XDELs the
//     entry, guarded by the fencing token: a worker whose run was taken over
//     gets ErrLeaseLost and its result is dropped. CompleteAll records many
//     results (one script call per queue) with their log lines (Result.Lines:
//     a built-in's output, the worker's closing note) in one round trip, and
//     a Completer batches the results of concurrent runs into such calls
//     (group commit; a result waits up to the Completer's hold for others,
//     or for a claim to carry it). A failed run with retries left (Run.MaxRetries) goes to
//     a delayed sorted set and back into the stream when its backoff has
//     elapsed; a Result.Permanent failure (refused, invalid parameters,
//     skipped) is never retried.
//   - Release hands a running run back without a result (a worker stopping
//     before its task ended): lease and entry go, a fresh entry queues the
//     run again at the tail at once, and the start does not count as a
//     delivery, so stops never make a run dead.

// # Leases, crashes and the celery #5935 trap
//
// Celery re-delivers a message whose visibility timeout passed even though
// its worker is alive and still running it, so long tasks run in a loop.
// Here reclaiming depends on the lease, never on the message's age: a run
// is taken over only when its lease key has expired, i.e. its worker has
// not renewed it for a whole lease. A worker that lives renews, and its run
// is never handed to anyone else however long it runs. (Renew also resets
// the entry's idle time, so XPENDING's idle filter stays a cheap pre-filter.)
//
// When a worker dies:
//   - its host-queue runs are replayed when it restarts: Replay reads its
//     own pending entries (XREADGROUP id "0") and takes over runs whose lease
//     is still held under its own consumer name, without waiting. This
//     assumes one worker process per host name, as the systemd unit ensures;
//   - its role-queue runs are reclaimed by the other workers of the role:
//     Reclaim lists entries idle for a lease (XPENDING IDLE), and a script
//     XCLAIMs and restarts each only if its lease key is gone;
//   - each start of the same attempt counts a delivery (a Release gives it
//     back); past WithMaxDeliveries the run becomes dead with a reason naming
//     the last worker, instead of crashing workers forever.
//
// A task runs at least once: a crash re-runs it. Exactly-once applies to the
// recorded outcome, not to side effects; tasks should be idempotent.
//
// # Kill
//
// Kill is durable, not pub/sub (celery's revoke(terminate=True) sends a
// signal to whoever listens at that moment). It sets the run's cancel key
// and, in the same script, finishes a queued or retrying run as killed at
// once (and one whose running worker has lost its lease). For a run that is
// running it appends a kill message to the worker's control stream, read
// with a consumer group (ReadControl, AckControl): a worker that is offline
// gets the message when it comes back, and a worker that crashed before
// acknowledging it gets it again. Renew reports the kill too, and Cancelled
// answers it for any run id. A killed run is never retried; one whose
// worker dies (or hands it back) before it reacts is finished as killed by
// the next start. Every end — completed, killed, dead — puts the run in
// its queue's finished index; a run taken over after its worker died is
// not finished.
//
// # Keys and hash tags
//
// All keys start with "cl:<cluster>:<env>:" (the Namespace; braces are not
// allowed in names) followed by exactly one hash tag, which decides the
// Redis Cluster slot. The rule: every key that one script or MULTI touches
// carries the same tag. No script builds a key; all are passed in KEYS.
//
//	{<queue>}:stream          stream of run ids (fields run, attempt)
//	{<queue>}:delayed         zset "<id>/<attempt>" → due time (retries)
//	{<queue>}:running         zset run id → start time (cl task status)
//	{<queue>}:finished        zset run id → finish time, the newest FinishedWindow (the dashboard)
//	{<queue>}:run:<id>        hash: the run record (TTL, WithRunTTL, 24h)
//	{<queue>}:lease:<id>      "<consumer>/<token>", PX lease
//	{<queue>}:cancel:<id>     set by Kill
//	{<queue>}:idem:<key>      idempotency key → run id, in the slot of the stream it gates
//	{host:<h>}:control        control stream of host h (kill messages)
//	{run:<id>}:queue          run id → queue, so Get/Kill/Logs need only the id
//	{run:<id>}:log            capped log stream (XADD MAXLEN ~ N, TTL)
//	{workers}:seen            zset host → last heartbeat (unix ms)
//	{workers}:hb:<host>       hash: last heartbeat (TTL = heartbeat TTL)
//	{workers}:queues          set of queue names
//	{beat}:…                  the beat's state (see BeatStore)
//	{audit}:log               list of audit records (JSON from package audit; no TTL)
//	{agent}:applies           list of apply records, newest first, capped at HistoryCap (the dashboard)
//	{agent}:deliveries        list of webhook delivery records, newest first, capped by the agent's ledger size
//	{audit}:head              "<seq>|<hash>" of the last record: AuditAppend's compare-and-set
//	{<lease>}:lock            "<holder id>|<epoch>", PX ttl: a fenced lease ({beat}:leader for the beat)
//	{<lease>}:lock:info       hash: the holder (id, epoch, holder, host, pid, since, version, command)
//	{<lease>}:epoch           counter: the lease's fencing token
//	{<lease>}:stepdown        the lease value asked to step down
//
// Per-run state lives in its queue's slot rather than in a per-run slot so
// that enqueue, start, renew, complete, retry and kill are each a single
// atomic script. The price: one queue's traffic stays on one Redis Cluster
// shard, while different queues (one per host, one per role) spread over
// the shards. The run → queue pointer and the log are alone in their
// scripts and sit in the run's own slot. Heartbeats share one tag so that a
// heartbeat and its index entry are written in one MULTI; Workers reads the
// index by score (no KEYS or SCAN) and the live hashes in one pipeline.
//
// # Fenced leases
//
// AcquireLease takes a named lease (LeaseBeat, LeaseDeploy) in one script
// that increments its epoch, the fencing token: the value "<id>|<epoch>"
// is what fenced scripts compare, so a holder that lost the lease cannot
// act through a late command. The holder renews every third of the TTL in
// the background and counts its validity from the moment it sent the last
// successful renewal, on the monotonic clock, minus 5%: when that runs out
// (Redis unreachable) Lost is closed with ErrLeaseExpired, before Redis
// lets another process take the lease. A renewal that finds another value
// ends it with ErrLeaseTaken (expired and taken, or ForceUnlock), and
// StepDown makes the holder give it up at its next renewal
// (ErrSteppedDown). A holder finding its own id in the lease takes it again
// under a new epoch. ReadLease and ForceUnlock work by lease name and id.
//
// # Redis URLs
//
// Open takes one URL string (ParseURL):
//
//	redis://[user[:password]@]host[:port][/db][?options]        one server
//	rediss://…                                                   one server over TLS
//	redis-sentinel://[user[:password]@]h1[:port],h2[:port][/db]?master=NAME[&sentinel_password=…]
//	rediss-sentinel://…                                          Sentinel, TLS to the servers
//	redis-cluster://[user[:password]@]h1[:port],h2[:port]         Redis Cluster (seed nodes)
//	rediss-cluster://…                                           Redis Cluster over TLS
//
// Ports default to 6379 (26379 for sentinels). The user info belongs to the
// Redis servers; sentinels that require a password take sentinel_username
// and sentinel_password. Options: dial_timeout, read_timeout, write_timeout
// (3s, 500ms, or plain seconds), pool_size, client_name, tls_ca=<PEM file>.
// Unknown options and several hosts in a redis:// URL are errors. Errors and
// Endpoint.String never show the password.
//
// # Time and failures
//
// Every Redis call gets its own deadline from the caller's context
// (WithOpTimeout; blocking reads add their block time). Reconnecting is
// go-redis' business; its own log lines ("failed to dial" while Redis is
// down) go to the WithLogger logger at debug level, not to stderr. Its
// consumer (package worker) logs Redis errors, backs off (Backoff, up to 2s)
// and goes on; reads recreate consumer groups lost with a Redis restart; scripts missing from a restarted
// server's cache are sent again (EVALSHA, then EVAL). Scripts
// take the time from the caller's clock: keep hosts' clocks in sync (NTP);
// skew shifts retry due times and timestamps, never lease expiry, which is
// Redis' own TTL.
//
// # Testing
//
// queue/queuetest holds one conformance suite (RunSuite) that the tests run
// against a real redis-server, a 3-node Redis Cluster and miniredis, plus
// helpers that start those for other packages' tests. queuetest.Client
// hands a queue's raw client to tests that must damage or inspect Redis
// behind the API; production code has no way to it.
package queue
