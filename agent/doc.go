// Package agent is the GitOps agent (`cl agent`) and the use-cases `cl plan`
// and `cl apply` share with it. It wires the outside systems to package
// reconcile: revisions are read from git objects (Loader over a sync.Source
// or sync.WorkTree), hosts are observed and deployed through the deploy
// engine (Fleet), schedule sets go to the beats through queue, the applied
// state lives in Redis (reconcile.DocStore over queue).
//
// The Agent's loop fetches the tracked branch on every poll (jittered),
// webhook (sync/webhook) and file-watch trigger, coalescing triggers; plans
// when the head moved or the drift check is due; and applies under the
// deploy lock while it leads the cluster's agents (queue.LeaseAgent). An
// invalid commit is reported once and skipped; a failed one is retried with
// backoff and never blocks a newer commit. Status (the read model behind
// /api/v1/status) and Metrics (Prometheus) record every sync, plan and
// apply. The apply history and the webhook ledger outlive the process in
// Redis (ApplyHistory, DeliveryStore: capped lists through queue); the
// ledger is written off the request path and read back at start.
//
// DriftCheck is the drift use-case of `cl cluster drift`, `cl cluster
// reconcile`, `cl cluster status` and the agent's self-heal: it observes the
// hosts (drift.Observe with the manifest check), compares them with the
// applied state and HEAD (drift.Compare, with reconcile's plan for the
// pending changes), and repairs drifted hosts that are not assess-only by
// redeploying the release applied to them (deploy.Options.Repair), recorded
// without moving the applied SHA. Between commits the Agent runs it every
// DriftInterval (heal) and, with monitoring.self_heal on, repairs under the
// apply lock with backoff; repairs are reported apart from applies.
//
// It owns no outside system itself: git is package sync's, Redis package
// queue's, SSH package hostexec's.
package agent
