// Package drift observes hosts: whether they can be reached, how fast, what
// their host key check said, and their facts (OS, kernel, arch, CPUs,
// memory, free disk, clock skew). Later it compares these observations with
// the desired state of cl.yaml to report and repair drift.
//
// It reaches hosts only through hostexec and reports plain data
// (HostStatus) that commands print as a table or JSON, and that the agent
// will record.
package drift
