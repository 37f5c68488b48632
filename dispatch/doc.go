// Package dispatch turns a task request into runs and watches them: the one
// place where "run task T with params P on these hosts" is decided, shared by
// `cl task`, the beat, the worker's own check and (soon) the agent's API.
//
//   - Resolve is the one resolver: (config, role, task, params) → a Spec
//     (task, module, typed params, timeout, retries) or the reason the role
//     cannot run it. It wraps config.ResolveTask, the pure rule that
//     config's schedule validation uses too.
//   - Plan turns a Request (task, params, a config.Selector, Any) into
//     Submissions: one per selected host, or one per role on its role queue.
//   - Enqueue is the one batched enqueue (batches of one round trip each,
//     optionally several at a time, retried on Redis errors).
//   - Follow streams the logs and final states of a set of runs; Unserved
//     names the runs no live worker can take.
//   - Collect is the status read model (workers, queues, running runs) as
//     plain data.
//
// It does not own queue names, keys or Redis access (package queue), the
// cron or fan-out policy (package schedule), or how a task executes
// (package worker). It imports queue and config only.
package dispatch
