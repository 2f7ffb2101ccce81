package reliability

import "syscall"

// childProcAttr makes the kernel kill a gateway process when the test
// process dies (a panic, a test binary timeout), so that no gateway
// outlives its test even when t.Cleanup never runs.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
