//go:build !windows

package redistest

import "syscall"

// Freeze stops the server's process (SIGSTOP) without closing its
// connections: a server that accepts and never answers. Thaw resumes it.
func (s *Server) Freeze() { s.cmd.Process.Signal(syscall.SIGSTOP) }

// Thaw resumes a frozen server (SIGCONT).
func (s *Server) Thaw() { s.cmd.Process.Signal(syscall.SIGCONT) }
