package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// makeStore writes a store with two namespaces: "double" with n entries
// and 2n calls, and "square" with one entry.
func makeStore(t testing.TB, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cache.db")
	s, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	fillStore(t, s, n)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// fillStore memoizes "double" and "square" on s and calls them as
// makeStore says; it returns "double".
func fillStore(t testing.TB, s *store.Store, n int) *memo.Func[int, int] {
	t.Helper()
	ctx := context.Background()
	double, err := memo.New(s, "double", func(_ context.Context, x int) (int, error) { return 2 * x, nil }, memo.Version("v1"))
	if err != nil {
		t.Fatal(err)
	}
	square, err := memo.New(s, "square", func(_ context.Context, x string) (string, error) { return x + x, nil })
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		for i := range n {
			double.Call(ctx, i)
		}
	}
	square.Call(ctx, "ab")
	return double
}

func runCmd(t testing.TB, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

func TestInfoJSON(t *testing.T) {
	path := makeStore(t, 10)
	for _, args := range [][]string{
		{"info", "--json", path},
		{"info", path, "--json"}, // flags after PATH
	} {
		out, errOut, code := runCmd(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		var got infoJSON
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		if got.Entries != 11 || len(got.Namespaces) != 2 {
			t.Fatalf("%v: entries %d, %d namespaces; want 11 and 2", args, got.Entries, len(got.Namespaces))
		}
		d := got.Namespaces[0]
		if d.Name != "double" || d.Entries != 10 || d.Hits != 10 || d.Misses != 10 || d.Version != "v1" || d.KeyType != "int" || d.HitRatio != 0.5 {
			t.Fatalf("%v: namespace %+v", args, d)
		}
	}
}

func TestInfoTableAndNamespaceFilter(t *testing.T) {
	path := makeStore(t, 3)
	out, _, code := runCmd(t, "info", "--namespace", "square", path)
	if code != 0 || !strings.Contains(out, "square") || strings.Contains(out, "double") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	if !strings.Contains(out, "HIT RATIO") || !strings.Contains(out, "entries  1 ") {
		t.Fatalf("table lacks its header or totals:\n%s", out)
	}
	if _, errOut, code := runCmd(t, "info", "--namespace", "nope", path); code != 1 || !strings.Contains(errOut, "nope") {
		t.Fatalf("unknown namespace: exit %d, %s", code, errOut)
	}
}

func TestInfoFromEnvironment(t *testing.T) {
	path := makeStore(t, 1)
	t.Setenv("MEMOSTORE_PATH", path)
	if out, errOut, code := runCmd(t, "info", "--json"); code != 0 || !strings.Contains(out, `"entries": 2`) {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
}

func TestClear(t *testing.T) {
	path := makeStore(t, 5)
	out, errOut, code := runCmd(t, "clear", path, "--namespace", "double")
	if code != 0 || !strings.Contains(out, "cleared double: 5 entries") {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	s, err := store.Open(path, store.WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	s.Close()
	if st.Entries != 1 || st.Namespaces[0].Entries != 0 || st.Namespaces[1].Entries != 1 {
		t.Fatalf("after clear --namespace double: %+v", st)
	}
	if _, _, code := runCmd(t, "clear", path); code != 0 {
		t.Fatal("clear all failed")
	}
	s, err = store.Open(path, store.WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if st := s.Stats(); st.Entries != 0 {
		t.Fatalf("after clear: %d entries", st.Entries)
	}
}

func TestFailures(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	os.WriteFile(garbage, bytes.Repeat([]byte{0xab}, 10000), 0o600)
	missing := filepath.Join(dir, "missing.db")
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no command", nil, 2, "usage"},
		{"unknown command", []string{"frob"}, 2, `unknown command "frob"`},
		{"bad flag", []string{"info", "--bogus", garbage}, 2, "bogus"},
		{"no path", []string{"info"}, 2, "missing PATH"},
		{"two paths", []string{"info", "a", "b"}, 2, "one PATH"},
		{"missing file", []string{"info", missing}, 1, "no such file"},
		{"missing file clear", []string{"clear", missing}, 1, "no such file"},
		{"garbage", []string{"info", garbage}, 1, "not a valid store"},
		{"garbage clear", []string{"clear", garbage}, 1, "not a valid store"},
		{"version extra", []string{"version", "x"}, 2, "unexpected"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("MEMOSTORE_PATH", "")
			_, errOut, code := runCmd(t, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.msg) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, errOut, tc.code, tc.msg)
			}
			if lines := strings.Count(errOut, "\n"); tc.code == 1 && lines != 1 {
				t.Fatalf("a failure should be one line, got %d:\n%s", lines, errOut)
			}
		})
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("memoctl created a missing store")
	}
}

func TestHelpAndVersion(t *testing.T) {
	if out, _, code := runCmd(t, "help"); code != 0 || !strings.Contains(out, "info") {
		t.Fatalf("help: %d %s", code, out)
	}
	if out, _, code := runCmd(t, "help", "clear"); code != 0 || !strings.Contains(out, "--namespace") {
		t.Fatalf("help clear: %d %s", code, out)
	}
	if out, _, code := runCmd(t, "help", "help"); code != 0 || !strings.Contains(out, "usage: memoctl help") {
		t.Fatalf("help help: %d %s", code, out)
	}
	if out, _, code := runCmd(t, "info", "-h"); code != 0 || !strings.Contains(out, "usage: memoctl info") {
		t.Fatalf("info -h: %d %s", code, out)
	}
	if out, _, code := runCmd(t, "version"); code != 0 || !strings.HasPrefix(out, "memoctl ") {
		t.Fatalf("version: %d %s", code, out)
	}
}

// TestBinary builds memoctl and drives every command as an operator
// would, on an offline store and on a live one held by another process.
func TestBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "memoctl")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	memoctl := func(args ...string) (string, string, int) {
		cmd := exec.Command(bin, args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if exit, ok := err.(*exec.ExitError); ok {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(stderr.String(), "goroutine ") {
			t.Fatalf("memoctl %v panicked:\n%s", args, stderr.String())
		}
		return stdout.String(), stderr.String(), code
	}
	path := makeStore(t, 4)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"info", path, "--json"}, 0, `"entries": 5`},
		{[]string{"info", path}, 0, "double"},
		{[]string{"keys", "--namespace", "square", path}, 0, `"key":"ab"`},
		{[]string{"check", path}, 0, "ok: 5 records"},
		{[]string{"check", "--fix", path}, 0, "ok: 5 records"},
		{[]string{"sweep", path}, 0, "swept 0"},
		{[]string{"clear", "--expired", path}, 0, "swept 0"},
		{[]string{"clear", "--namespace", "square", path}, 0, "cleared square: 1 entries"},
		{[]string{"compact", path}, 0, "compacted"},
		{[]string{"clear", path}, 0, "cleared double: 4 entries"},
		{[]string{"version"}, 0, "memoctl "},
		{[]string{"help", "compact"}, 0, "usage: memoctl compact"},
		{[]string{"keys", "-h"}, 0, "usage: memoctl keys"},
		{[]string{"info", filepath.Join(t.TempDir(), "none.db")}, 1, "no such file"},
		{[]string{"info", "--nope", path}, 2, "nope"},
		{[]string{"frob"}, 2, "unknown command"},
	} {
		out, errOut, code := memoctl(tc.args...)
		if code != tc.code || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("memoctl %v: exit %d, %q%q; want exit %d and %q", tc.args, code, out, errOut, tc.code, tc.want)
		}
	}

	live := filepath.Join(t.TempDir(), "live.db")
	h := startHolder(t, live, "control")
	h.call(t, 7)
	if out, _, code := memoctl("info", "--json", live); code != 0 || !strings.Contains(out, `"live": true`) {
		t.Fatalf("info on a live store: %d %s", code, out)
	}
	if out, _, code := memoctl("clear", live); code != 0 || !strings.Contains(out, "cleared double") {
		t.Fatalf("clear on a live store: %d %s", code, out)
	}
	if got := h.call(t, 7); got != "ran" {
		t.Fatalf("after memoctl clear the holder's call was %s", got)
	}
	if _, errOut, code := memoctl("compact", live); code != 1 || !strings.Contains(errOut, "stop that process first") {
		t.Fatalf("compact on a live store: %d %s", code, errOut)
	}
}
