//go:build !windows

package boltstore

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/memostore/memostore/internal/control"
)

// TestFilesArePrivate: the store file, its lock file and its control
// socket are created 0600 whatever the umask, the socket included, which
// the kernel would otherwise create 0777 &^ umask.
func TestFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	path := filepath.Join(shortDir(t), "c.db")
	s := openStore(t, path)
	for _, p := range []string{path, LockPath(path), control.Path(path)} {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s: mode %v with umask 0, want 0600", filepath.Base(p), perm)
		}
	}
	if fi, err := os.Lstat(control.Path(path)); err != nil || fi.Mode().Type() != fs.ModeSocket {
		t.Errorf("control path: %v, %v; want a socket", fi, err)
	}
	closeStore(t, s)

	// A corrupt file moved aside: the fresh store is private too.
	writeFile(t, path, []byte("garbage, not a store"))
	s = openStore(t, path, WithRecover())
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("store made WithRecover: %v, %v; want mode 0600", fi, err)
	}
	closeStore(t, s)
}

// infoAs asks the control endpoint of the store at path for Info as the
// user uid (-1: this process's user), with this test binary copied where
// uid can run it. It reports whether the endpoint answered, and what the
// client said.
func infoAs(t *testing.T, uid int, path, dir string) (bool, string) {
	t.Helper()
	bin := filepath.Join(dir, "client.test")
	if _, err := os.Stat(bin); err != nil {
		data, err := os.ReadFile(os.Args[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), controlClientEnv+"="+path)
	cmd.Dir = dir
	if uid >= 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	}
	out, err := cmd.CombinedOutput()
	said := strings.TrimSpace(string(out))
	if err != nil {
		said += fmt.Sprintf(" (%v)", err)
	}
	return said == "ok", said
}

// TestControlRefusesOtherUsers: as root, a client running as another user
// (nobody, uid 65534) gets nothing from the control endpoint: with the
// socket's 0600 mode it cannot connect, and with the mode loosened it
// connects but SO_PEERCRED has the connection closed unanswered. The same
// client run as root is answered, so the refusals are the endpoint's.
func TestControlRefusesOtherUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: running a client as another user needs root")
	}
	const nobody = 65534
	dir := shortDir(t)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "c.db")
	s := openStore(t, path)
	sock := control.Path(path)

	if ok, said := infoAs(t, -1, path, dir); !ok {
		t.Fatalf("the client as root: %q; want an answer (the test's client does not work)", said)
	}
	if ok, said := infoAs(t, nobody, path, dir); ok {
		t.Errorf("uid %d through the 0600 socket: %q; want no answer", nobody, said)
	}
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	if ok, said := infoAs(t, nobody, path, dir); ok {
		t.Errorf("uid %d through a socket made 0666: %q; want the connection refused by SO_PEERCRED", nobody, said)
	} else {
		t.Logf("uid %d refused: %s", nobody, said)
	}
	if ok, said := infoAs(t, -1, path, dir); !ok {
		t.Errorf("the client as root after the refusals: %q; want an answer", said)
	}
	closeStore(t, s)
}
