// Package worker is celeroot's on-host runner: the process behind
// `cl worker --host NAME` on every fleet host (and the local workers of
// `cl dev`). Run serves one host until its context is cancelled.
//
// It owns the execution of task runs: which tasks a host may run (its role's
// modules plus the built-ins), parameter checks at the point of execution,
// subprocesses with their environment, timeouts and kills, the built-in tasks
// (ping, install, remove, service), the schedule `concurrency: forbid` check,
// the heartbeat's content and the health endpoint. It does not own the run
// records, leases, retries or logs on Redis (package queue), nor deciding
// what to run where (cl task, the scheduler).
//
// # Serving
//
// A worker consumes its host queue ("host:<name>") and its role's queue
// ("role:<workers.<role>.queue>") with workers.<role>.concurrency slots, one
// claim loop taking the queues in turns. At start it replays the runs that a
// previous process of the same host had started (they are taken over at
// once), then claims new runs: as many as it has free slots, plus host-queue
// runs ahead (prefetch: they are started and renewed, and wait here for a
// slot; role-queue runs are never taken ahead, another worker of the role
// may be free). The prefetch is four per slot until a run has been timed,
// then what a slot finishes in 100 ms, at most 16 per slot. Both queues are
// read in one round trip; a worker that found them shallow goes straight to
// its blocking read, which returns at once when runs are waiting. Every third of the lease it
// renews the leases of its runs and reclaims role-queue runs of dead workers
// into free slots; every third of the heartbeat TTL it sends its heartbeat.
// Results go to Redis through a queue.Completer, batched with the other runs
// that finished meanwhile, with their closing log lines. Kill requests arrive
// on the host's control stream (and through lease renewal as a second path);
// one that overtakes the claim's reply is remembered until the run starts.
//
// # Stopping
//
// Cancelling Run's context means SIGTERM: the worker stops claiming, lets the
// running tasks go on for Options.Grace, then stops the ones still going
// (SIGTERM to their process group, SIGKILL after KillGrace) and hands them
// back without a result (queue.Release), as it does at once with prefetched
// runs that have not started: they are queued again, for the next worker
// process of the host or any worker of the role, and a hand-back does not
// count as a delivery. No run is lost.
//
// With workers.<role>.max_tasks_per_child = N the worker starts N runs, stops
// claiming, waits for all of them to finish (no deadline, unless its context
// is cancelled meanwhile) and returns nil, so that its supervisor starts a
// fresh process.
//
// # Execution
//
// A task with command or script runs as a subprocess in its own process
// group, in the release directory, with the worker's environment minus CL_*
// variables, the task's env, CL_PARAM_<NAME> per parameter, CL_TASK,
// CL_MODULE, CL_RUN_ID, CL_HOST and CL_RELEASE_DIR, and all parameters as one
// JSON object on stdin. Stdout and stderr lines go to the run's log stream;
// the worker adds a closing line on the "worker" stream with the exit code and
// duration. A timeout or kill sends SIGTERM to the group and SIGKILL to what
// is left after KillGrace. Parameters never become part of a command line
// except as a separate argv element of a built-in (a validated package or
// service name); nothing goes through a shell.
//
// # Secrets
//
// A string parameter or a task env value may reference a secret
// (${secret:NAME#KEY@VERSION}, package secrets). The worker resolves the
// references right before it starts the process, through the provider of
// the release's secrets section, fetching each value for this run only:
// the task gets the values (environment, stdin), the run record keeps the
// reference, the run's stdout and stderr pass through a masker that writes
// *** for each value, and the audit trail gets a "secret.resolve" record
// with the secrets' names and the run id. A reference that does not parse
// or a secret that cannot be fetched refuses the run (the error names the
// secret, never a value). The variables holding the provider's credentials
// are removed from tasks' environment.
//
// See docs/worker.md for the operator's view (supervision, health endpoint,
// built-ins).
package worker
