package redistest

// Freeze would stop the server's process without closing its connections;
// Windows has no SIGSTOP, so it fails the test instead.
func (s *Server) Freeze() {
	s.tb.Helper()
	s.tb.Fatal("redistest: Freeze needs SIGSTOP, which Windows does not have")
}

// Thaw does nothing: no server is ever frozen here.
func (s *Server) Thaw() {}
