package redistest

import (
	"net"
	"os/exec"
	"testing"
	"time"
)

// TestStartOnTakenPort: a redis-server whose port another process took
// between StartWith's choice and its start exits at once; start says so
// then, rather than after waiting 10s for an answer, so that StartWith
// tries another port (a Redis test failed in CI for want of it).
func TestStartOnTakenPort(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		missing(t, "redis-server is not installed (bash .ci/test.sh installs it)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := &Server{tb: t, port: l.Addr().(*net.TCPAddr).Port, dir: t.TempDir()}
	begin := time.Now()
	if err := s.start(); err == nil {
		s.Stop()
		t.Fatal("redis-server started on a port another listener holds")
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("start took %v to see that redis-server exited", d)
	}
}

// TestStartWithCluster: a cluster node, which also listens 10,000 ports
// above its own, starts and answers.
func TestStartWithCluster(t *testing.T) {
	s := StartWith(t, "--cluster-enabled", "yes")
	if s.port+10000 > 65535 {
		t.Errorf("port %d: its cluster bus would be above 65535", s.port)
	}
}
