package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	good := []string{"a", "fib", "pkg/path.Func", "A-b_c:d/e.f", "0", strings.Repeat("x", MaxNamespaceLen)}
	bad := []string{"", strings.Repeat("x", MaxNamespaceLen+1), "with space", "tab\t", "new\nline",
		"é", "a*b", "quote\"", "nul\x00", "semi;colon", "back\\slash"}
	for _, name := range good {
		if err := ValidateName(name); err != nil {
			t.Errorf("ValidateName(%q) = %v, want nil", name, err)
		}
	}
	s, err := Open(filepath.Join(t.TempDir(), "cache.db"), WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, name := range bad {
		err := ValidateName(name)
		if err == nil {
			t.Errorf("ValidateName(%q) = nil, want an error", name)
			continue
		}
		if !strings.HasPrefix(err.Error(), "store: ") {
			t.Errorf("ValidateName(%q) = %q, want the store: prefix", name, err)
		}
		if ns, err := s.Namespace(context.Background(), name, NamespaceSpec{Version: "1"}); err == nil {
			t.Errorf("Namespace(%q) = %v, want an error", name, ns.Name())
		}
	}
	if st := s.Stats(); len(st.Namespaces) != 0 {
		t.Errorf("rejected names made namespaces: %+v", st.Namespaces)
	}
}
