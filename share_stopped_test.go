//go:build !windows

package memostore_test

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// TestStoppedHolderDoesNotBlockInvalidation: with its holder stopped
// (SIGSTOP), a follower's Forget, Clear and Flush must give up on it
// within about FollowerTimeout ("degrade, never block"); they waited a
// minute (found by a review). Here they return in about 2 s.
func TestStoppedHolderDoesNotBlockInvalidation(t *testing.T) {
	for name, op := range map[string]func(ctx context.Context, s *store.Store, f *memo.Func[int, int]) error{
		"Forget": func(ctx context.Context, s *store.Store, f *memo.Func[int, int]) error { return f.Forget(ctx, 1) },
		"Clear":  func(ctx context.Context, s *store.Store, f *memo.Func[int, int]) error { return f.Clear(ctx) },
		"Flush":  func(ctx context.Context, s *store.Store, f *memo.Func[int, int]) error { return s.Flush(ctx) },
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(shortTemp(t), "stop.db")
			cmd, _ := startHolder(t, path)
			s, err := store.Open(path, store.WithLogger(nil))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			f, err := memo.New(s, "stop", func(ctx context.Context, n int) (int, error) { return n + 1, nil })
			if err != nil {
				t.Fatal(err)
			}
			if v, err := f.Call(ctx, 1); err != nil || v != 2 {
				t.Fatalf("Call = %d, %v", v, err)
			}
			cmd.Process.Signal(syscall.SIGSTOP)
			defer cmd.Process.Signal(syscall.SIGCONT)
			done := make(chan error, 1)
			start := time.Now()
			go func() { done <- op(ctx, s, f) }()
			select {
			case err := <-done:
				t.Logf("%s returned after %v: %v", name, time.Since(start), err)
			case <-time.After(5 * time.Second):
				t.Errorf("%s on a follower whose holder is stopped still blocked after 5s", name)
				cmd.Process.Signal(syscall.SIGCONT)
				<-done
			}
		})
	}
}
