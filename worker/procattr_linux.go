package worker

import "syscall"

// taskProcAttr puts a task in its own process group and kills it when the
// worker dies.
func taskProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
