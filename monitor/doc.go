// Package monitor is `cl cluster monitor`: a live terminal view of the
// cluster built on the read model of `cl cluster status`
// (agent.ClusterStatus) — hosts, workers, queues, running tasks, the beat
// and agent leaders, the last apply and the recent applies — refreshed
// every second, with keys to filter by role and host and to quit
// (bubbletea and lipgloss, v1); and, when stdout is not a terminal, the
// same as plain text printed periodically (Plain).
//
// It gets its data from a Fetch function (the CLI passes one that probes
// the hosts every few seconds and reads Redis every second); it opens no
// connection of its own.
package monitor
