package store

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLockTimeoutDefault(t *testing.T) {
	o := gather(nil)
	WithLockTimeout(0).file(&o.Options)
	if o.LockTimeout != DefaultLockTimeout {
		t.Errorf("WithLockTimeout(0) sets %v, want DefaultLockTimeout", o.LockTimeout)
	}
	WithLockTimeout(-time.Second).file(&o.Options)
	if o.LockTimeout != DefaultLockTimeout {
		t.Errorf("WithLockTimeout(-1s) sets %v, want DefaultLockTimeout", o.LockTimeout)
	}
	if gather(nil).LockTimeout <= 0 {
		t.Error("the default lock timeout waits forever")
	}
}

// TestBadSizesRefused: a negative byte bound, or a queue of no bytes, is
// a mistake Open names, not a silent "no bound" or default.
func TestBadSizesRefused(t *testing.T) {
	for name, opt := range map[string]Option{
		"WithMaxBytes(-1)": WithMaxBytes(-1), "WithQueueBytes(0)": WithQueueBytes(0), "WithQueueBytes(-5)": WithQueueBytes(-5),
	} {
		path := filepath.Join(t.TempDir(), "c.db")
		s, err := Open(path, WithLogger(nil), opt)
		if err == nil {
			s.Close()
			t.Errorf("Open with %s succeeded; want an error", name)
			continue
		}
		if _, serr := os.Stat(path); serr == nil {
			t.Errorf("Open with %s failed (%v) but made the file", name, err)
		}
	}
}
