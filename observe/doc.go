// Package observe is what `cl cluster logs` and `cl cluster metrics` show
// and what feeds the agent's alerts:
//
//   - Shipping (Shipper): every long-running process (worker, beat, agent)
//     ships its own log lines to a capped Redis stream of its own
//     (queue.ShipLog) through a bounded buffer, so a slow or unreachable
//     Redis never blocks it: lines that do not fit are dropped and counted.
//     Attributes named like credentials and passwords inside URLs are masked
//     before a line leaves the process.
//   - Reading (ReadLogs, FollowLogs): the streams of every process merged in
//     time order and filtered by host, role, time and a regular expression.
//   - Metrics (Collect): task execution time quantiles per task, failure
//     rates, queue sizes and apply and deploy durations, from the timings
//     Redis keeps (queue.TaskTimings, queue.OpTimingsOf) and the queues'
//     stats; rendered as text, JSON or Prometheus text.
//
// It owns no Redis call of its own (package queue does) and runs no
// process (packages worker, schedule and agent do, and wrap their logger
// with a Shipper).
package observe
