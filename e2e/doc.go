// Package e2e holds celeroot's end-to-end tests: they run the real `cl`
// binary (built once per test run, see CL in main_test.go) against real
// OpenSSH sshd test hosts in network namespaces (e2e/testhost), a real
// redis-server and real git servers, all started by the tests.
//
// Shared helpers live in main_test.go: CL(t) builds cl once and returns its
// path, StartRedis(t, addr) runs a throwaway redis-server, WriteFleetConfig
// writes a cl.yaml for a test fleet. They need root (network namespaces);
// without it the tests skip saying so.
package e2e
