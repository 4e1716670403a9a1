//go:build !linux

package service

import (
	"errors"
	"syscall"
)

// reusePort is refused where the platform has not been run with it.
func reusePort(_, _ string, _ syscall.RawConn) error {
	return errors.New(ReusePortKey + " is supported on Linux only")
}
