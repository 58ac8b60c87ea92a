//go:build !unix

package main

import "syscall"

// sysProcAttr: no process groups here; Ctrl-C may reach the services directly.
func sysProcAttr() *syscall.SysProcAttr { return nil }
