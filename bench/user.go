package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
)

// User is the record of examples/userdata: a user id, a few fields and a
// 1,000-character self-introduction, about 1 KB encoded.
type User struct {
	UserID           int
	Name             string
	Email            string
	Age              int
	SelfIntroduction string
}

const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// GetUserData is examples/userdata's get_user_data: it builds a fresh
// record for id, with a random introduction, as the Python original does.
func GetUserData(_ context.Context, id int) (User, error) {
	return NewUser(id, rand.N[uint64](1<<63)), nil
}

// NewUser returns the record for id, its random parts drawn from seed, so
// that benchmarks can build the same records every run.
func NewUser(id int, seed uint64) User {
	r := rand.New(rand.NewPCG(seed, uint64(id)))
	var b strings.Builder
	b.Grow(1000)
	for range 1000 {
		b.WriteByte(letters[r.IntN(len(letters))])
	}
	return User{
		UserID:           id,
		Name:             fmt.Sprintf("User %d", id),
		Email:            fmt.Sprintf("user%d@example.com", id),
		Age:              18 + r.IntN(43),
		SelfIntroduction: b.String(),
	}
}

// Result is the small value of the disk-hit, miss-and-store, open and sweep
// benchmarks: a struct, so that decoding it costs what a typical memoized
// result costs (msgpack's reflection over a few fields), about 40 bytes
// encoded.
type Result struct {
	ID    int
	Score float64
	Label string
}

// NewResult returns the Result stored under key k.
func NewResult(k int) Result {
	return Result{ID: k, Score: float64(k) / 7, Label: fmt.Sprintf("result-%d", k)}
}
