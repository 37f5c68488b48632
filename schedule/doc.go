// Package schedule is celeroot's scheduler, the beat: it fires the cron
// schedules of cl.yaml, exactly once per tick, to the hosts their targets
// reach, however many beats run and whichever of them dies.
//
// It owns cron evaluation (Cron: gronx on the wall clock, with Vixie cron's
// daylight-saving rules), the schedule set (Set: schedules resolved against
// hosts and task modules, publishable in Redis), leadership (a lease with
// epoch fencing), firing (a heap of next ticks, fenced fire claims, fan-out
// to host queues with idempotency keys), catch-up, reloads, the internal
// Redis backup schedule, and status. It does not run tasks (package worker)
// nor store them (package queue), and it does not read cl.yaml itself
// (callers pass a *config.Config or a Set). It makes no Redis call itself:
// the leader lease is queue's fenced lease (queue.LeaseBeat), and the
// beat's keys and scripts live in queue.BeatStore, which implements the
// small store interface the beat declares; backups are queue.Snapshot.
//
// # Model
//
// Any number of Beats run against one namespace (cluster and environment).
// The one holding the lease "<prefix>{beat}:leader" fires; the others wait
// as standbys and take over within one lease (default 15s) after the leader
// stops renewing. The leader sleeps until the next due tick across all
// schedules (a min-heap; no polling), and for each tick:
//
//  1. decides the due ticks of each due schedule (late ticks within the
//     late window fire; older, missed ticks follow catchup none|once within
//     starting_deadline),
//  2. claims each tick, up to Options.Lookahead (1s) ahead of it, with one
//     Lua script in the {beat} slot that checks the lease value (the
//     fencing token), sets the fire key "{beat}:fire:<schedule>:<tick>"
//     only if absent, moves the schedule's cursor (the last tick dealt
//     with, persisted), and records the fire as in progress with its plan
//     (the hosts, resolved now, and their runs),
//  3. at the tick, while it still holds the lease, enqueues one run per
//     host on its host queue with the idempotency key
//     sched:<schedule>:<tick unix>:<host>, labelled with the schedule and
//     the tick (the worker applies concurrency: forbid),
//  4. records the outcome as the schedule's last fire.
//
// A leader that dies between 2 and 4 leaves the fire "in progress"; the next
// leader sweeps such fires and enqueues their plan again: hosts already
// served are deduplicated by their idempotency keys, so each host gets one
// run per tick. A leader that cannot renew its lease stops firing when its
// local validity (on the monotonic clock, counted from the moment it sent
// the last successful renewal, minus a margin) runs out, which is before
// Redis lets the key expire for a standby; its delayed commands are refused
// by the fencing check.
//
// # Reloads
//
// A new Set (SIGHUP of a local beat, or Publish by the GitOps agent) is
// stored in "{beat}:config" with a generation; beats learn of it through
// pub/sub and a poll, and the leader swaps it in between two fires. An
// unchanged schedule keeps its cursor (no tick missed or doubled); a
// schedule whose cron or zone changed starts after the swap.
//
// docs/beat.md describes the whole design for operators.
package schedule
