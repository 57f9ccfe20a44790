package store

import (
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
