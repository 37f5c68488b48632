// Package reconcile plans and applies: it compares the desired state at a
// commit with the applied state of the cluster (kept in Redis) and with
// what the drift probe observes on the hosts, and produces a Plan — an
// ordered list of actions, each with a reason — that an Applier carries
// out.
//
// # Inputs
//
//   - desired: a Revision, the configuration and files of the config tree
//     at one commit (read from git objects, no checkout);
//   - applied: the State — last applied SHA, a generation counter that every
//     successful apply increments, a cluster id, per-host applied SHA and
//     outcome, and the SHAs whose apply failed (bad SHAs, retried with
//     backoff: 2 s, ×3, at most 5 min; a newer commit is never blocked);
//   - observed: per host, the release `current` points to, the release its
//     worker heartbeats and whether it could be reached.
//
// # What is planned
//
// A host is deployed when it is new, when what it receives changed — the
// files of the task modules its role loads, shared files outside any
// module, and the configuration its worker reads (cluster, redis, its host
// entry, its role, deployment) — when its last apply failed, or when it
// drifted (runs something else than was applied). A change that does not
// reach a host (a schedule's cron, another role's task file) does not
// redeploy it. An unreachable host is unknown, never absent: nothing is
// removed because a host cannot be reached, and removing hosts that left
// cl.yaml happens only with pruning on. The scheduler is reloaded when the
// revision's schedule set differs from the published one.
//
// # Applying
//
// Apply refuses a plan made against another generation, applied SHA or
// cluster id (ErrStale), deploys through a Deployer, removes through a
// Remover, publishes the schedules when every deploy succeeded, and records
// the outcome atomically in the Store. The caller holds the apply lock
// (the deploy lock). Plans and results are plain data that print as text
// or JSON (format_version 1).
//
// It does not talk to git, Redis or hosts itself: those reach it through
// the small interfaces it declares (Store, Deployer, Remover, Publisher).
package reconcile
