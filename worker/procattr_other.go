//go:build !linux

package worker

import "syscall"

// taskProcAttr puts a task in its own process group. Workers run on Linux
// fleet hosts; elsewhere (cl dev on macOS) a task outlives a killed worker.
func taskProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
