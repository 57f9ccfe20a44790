//go:build linux

package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// TestWatchInTerminal runs memoctl info --watch in a pseudo-terminal, as an
// operator would, and stops it with Ctrl-C: it redraws in place with the
// cursor hidden, and leaves the terminal with its cursor shown, exiting 0.
func TestWatchInTerminal(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "memoctl")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	path := makeStore(t, 3)
	cmd := exec.Command(bin, "info", "--watch", "100ms", path)
	term, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 132})
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	var (
		mu  sync.Mutex
		out bytes.Buffer
	)
	read := make(chan struct{})
	go func() { // until memoctl exits and the terminal reads EIO
		defer close(read)
		buf := make([]byte, 4096)
		for {
			n, err := term.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	output := func() string {
		mu.Lock()
		defer mu.Unlock()
		return out.String()
	}
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(output(), "NAMESPACE") < 3 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no third refresh after 10s:\n%q", output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := term.Write([]byte{3}); err != nil { // Ctrl-C
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("memoctl after Ctrl-C: %v\n%q", err, output())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("memoctl still running 10s after Ctrl-C:\n%q", output())
	}
	select {
	case <-read:
	case <-time.After(5 * time.Second):
		t.Fatal("the terminal did not close after memoctl exited")
	}

	got := output()
	if !strings.HasPrefix(got, hideCursor) {
		t.Errorf("the cursor is not hidden before the first refresh:\n%q", got)
	}
	lastFrame := strings.LastIndex(got, "NAMESPACE")
	if i := strings.LastIndex(got, showCursor); i < lastFrame || !strings.HasSuffix(got, showCursor) {
		t.Errorf("the cursor is not shown again after the last refresh:\n%q", got)
	}
	if strings.LastIndex(got, hideCursor) > lastFrame {
		t.Errorf("the cursor is hidden again after the last refresh:\n%q", got)
	}
	if n := strings.Count(got, home); n < 3 {
		t.Errorf("%d redraws from the top of the screen, want at least 3:\n%q", n, got)
	}
	if strings.Contains(got, "\n\nstore ") {
		t.Errorf("refreshes printed one after the other, not redrawn:\n%q", got)
	}
	// The table fits the terminal, and its rows are cleared to the end.
	for _, line := range strings.Split(got, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.Contains(line, "double") && !strings.HasSuffix(line, clearLine) {
			t.Errorf("row not cleared to the end of the line: %q", line)
		}
	}
}
