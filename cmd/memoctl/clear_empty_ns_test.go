package main

import (
	"strings"
	"testing"
)

// TestClearEmptyNamespaceRefused: --namespace "" (a script's
// --namespace "$NS" with NS unset) is a namespace given and empty, which
// no namespace can be named (store.ValidateName). clear treated it as no
// --namespace at all and cleared every namespace of the store, exit 0:
// a destructive command run on bad input. keys refuses an empty
// --namespace; clear must too, with a usage error, and delete nothing.
func TestClearEmptyNamespaceRefused(t *testing.T) {
	path := makeStore(t, 3)
	out, errOut, code := runCmd(t, "clear", "--namespace", "", path)
	info, _, _ := runCmd(t, "info", "--json", path)
	if code == 0 {
		t.Fatalf("clear --namespace \"\" exited 0 and printed:\n%s%s\nthe store now has %s", out, errOut, entriesLine(info))
	}
	if !strings.Contains(info, `"entries": 4`) {
		t.Errorf("clear --namespace \"\" (exit %d) deleted entries: %s", code, entriesLine(info))
	}
}

// entriesLine returns the store-wide "entries" line of info --json.
func entriesLine(info string) string {
	for _, l := range strings.Split(info, "\n") {
		if strings.HasPrefix(l, `  "entries"`) {
			return strings.TrimSpace(l)
		}
	}
	return "(no entries line)"
}

// TestClearNamespaceTwiceRefused: --namespace given twice cleared the last
// one named; it is refused, and nothing is deleted.
func TestClearNamespaceTwiceRefused(t *testing.T) {
	path := makeStore(t, 3)
	_, _, code := runCmd(t, "clear", "--namespace", "a", "--namespace", "b", path)
	info, _, _ := runCmd(t, "info", "--json", path)
	if code != 2 {
		t.Errorf("clear with --namespace twice: exit %d, want 2 (usage)", code)
	}
	if !strings.Contains(info, `"entries": 4`) {
		t.Errorf("clear with --namespace twice deleted entries: %s", entriesLine(info))
	}
}
