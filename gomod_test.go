package memostore_test

import (
	"os"
	"regexp"
	"testing"
)

// TestGoVersionAgrees checks that the Go version the README asks for is the
// one every go.mod of the repository declares: a go directive newer than
// the README's would refuse the toolchains the README promises.
func TestGoVersionAgrees(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`Requires Go (1\.\d+) or newer`).FindSubmatch(readme)
	if m == nil {
		t.Fatal(`README.md does not say "Requires Go 1.N or newer"`)
	}
	want := string(m[1]) + ".0"
	for _, path := range []string{"go.mod", "bench/go.mod", "metrics/memoprom/go.mod", "metrics/memootel/go.mod"} {
		mod, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(mod)
		if got == nil {
			t.Errorf("%s has no go directive", path)
			continue
		}
		if string(got[1]) != want {
			t.Errorf("%s says go %s; the README requires Go %s, so it should say go %s", path, got[1], m[1], want)
		}
	}
}
