package memo_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/memostore/memostore/memo"
)

// cpython holds call sequences replayed through CPython's
// functools.lru_cache by testdata/gen_lru_cache.py, with cache_info()
// after every call.
type cpython struct {
	Python string `json:"python"`
	Clear  int    `json:"clear"`
	Cases  []struct {
		Name    string     `json:"name"`
		MaxSize int        `json:"maxsize"`
		Calls   []int      `json:"calls"`
		Steps   [][3]int64 `json:"steps"` // hits, misses, currsize
	} `json:"cases"`
	Fib []struct {
		MaxSize  int   `json:"maxsize"`
		N        int   `json:"n"`
		Value    int   `json:"value"`
		Hits     int64 `json:"hits"`
		Misses   int64 `json:"misses"`
		CurrSize int   `json:"currsize"`
	} `json:"fib"`
}

func loadCPython(t testing.TB) cpython {
	t.Helper()
	b, err := os.ReadFile("testdata/lru_cache.json")
	if err != nil {
		t.Fatal(err)
	}
	var c cpython
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Cases) == 0 || len(c.Fib) == 0 {
		t.Fatal("testdata/lru_cache.json holds no cases")
	}
	return c
}

// TestReplaysFunctools checks that a memory-only Func reports what CPython's
// lru_cache reports after every call of every recorded sequence.
func TestReplaysFunctools(t *testing.T) {
	data := loadCPython(t)
	ctx := context.Background()
	for _, tc := range data.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			f, err := memo.New(nil, "double", func(_ context.Context, x int) (int, error) { return 2 * x, nil },
				memo.MaxSize(tc.MaxSize))
			if err != nil {
				t.Fatal(err)
			}
			for i, x := range tc.Calls {
				if x == data.Clear {
					if err := f.Clear(ctx); err != nil {
						t.Fatal(err)
					}
				} else if v, err := f.Call(ctx, x); err != nil || v != 2*x {
					t.Fatalf("call %d: f(%d) = %d, %v", i, x, v, err)
				}
				info := f.Info()
				got := [3]int64{info.Hits, info.Misses, int64(info.CurrSize)}
				if got != tc.Steps[i] {
					t.Fatalf("after call %d (x=%d): hits, misses, currsize = %v; CPython %s says %v",
						i, x, got, data.Python, tc.Steps[i])
				}
			}
			if info := f.Info(); info.MaxSize != tc.MaxSize {
				t.Errorf("MaxSize = %d, want %d", info.MaxSize, tc.MaxSize)
			}
		})
	}
}

// TestFibMatchesFunctools checks recursive memoization against CPython.
func TestFibMatchesFunctools(t *testing.T) {
	for _, tc := range loadCPython(t).Fib {
		fib, err := newFib(nil, memo.MaxSize(tc.MaxSize))
		if err != nil {
			t.Fatal(err)
		}
		v, err := fib.Call(context.Background(), tc.N)
		if err != nil || v != tc.Value {
			t.Fatalf("fib(%d) = %d, %v; want %d", tc.N, v, err, tc.Value)
		}
		info := fib.Info()
		if info.Hits != tc.Hits || info.Misses != tc.Misses || info.CurrSize != tc.CurrSize {
			t.Errorf("maxsize=%d fib(%d): %v; CPython says hits=%d misses=%d currsize=%d",
				tc.MaxSize, tc.N, info, tc.Hits, tc.Misses, tc.CurrSize)
		}
	}
}
