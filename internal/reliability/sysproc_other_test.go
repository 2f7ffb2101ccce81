//go:build !linux

package reliability

import "syscall"

// childProcAttr: only Linux can tie a child's life to its parent's; other
// systems rely on t.Cleanup.
func childProcAttr() *syscall.SysProcAttr { return nil }
