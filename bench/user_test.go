package bench

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/memo"
)

// userSeed fixes the random parts of the benchmarks' user records.
const userSeed = 2024

// users returns n user records, ids 0..n-1.
func users(n int) []User {
	us := make([]User, n)
	for i := range us {
		us[i] = NewUser(i, userSeed)
	}
	return us
}

// userFor returns a record for any id, sharing the introductions of a
// small pool so that building it costs nothing measurable: the benchmarks
// time the cache, not the record's generation.
func userFor(pool []User) func(int) User {
	return func(id int) User {
		u := pool[id%len(pool)]
		u.UserID = id
		return u
	}
}

// userKey is the key the encode and decode benchmarks' record is stored
// under.
var userKey = codec.AppendInt(nil, 1)

// BenchmarkUser times the ~1 KB record of examples/userdata through each
// step of its life in memostore, each against the same step done directly:
//
//	op=encode    codec.Values.Encode (msgpack, header, CRC-32C) against msgpack.Marshal
//	op=decode    codec.Values.Decode (validation, msgpack) against msgpack.Unmarshal
//	op=store     Call on new ids, sustained with a final Flush (as BenchmarkMissStore)
//	             against raw bbolt committing 1,000 puts per transaction
//	op=disk-hit  Call with MaxSize(0) on 10,000 committed records against bbolt
//	             View+Get+msgpack decode (as BenchmarkDiskHit)
func BenchmarkUser(b *testing.B) {
	pool := users(64)
	u := pool[0]
	enc := vals[User]()
	now := time.Now().UnixNano()

	b.Run("op=encode/impl=memostore", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := enc.Encode(u, userKey, codec.Meta{StoredAt: now}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("op=encode/impl=msgpack", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := msgpack.Marshal(u); err != nil {
				b.Fatal(err)
			}
		}
	})

	rec, err := enc.Encode(u, userKey, codec.Meta{StoredAt: now})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("user record: %d bytes (%d of payload)", len(rec), len(rec)-codec.HeaderSize)
	payload, err := codec.Payload(rec, userKey)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("op=decode/impl=memostore", func(b *testing.B) {
		// What a read pays: the header and CRC-32C check (Payload), then
		// the validation and decode, as encode pays for its header and
		// CRC (it left Payload out of the loop).
		b.ReportAllocs()
		for b.Loop() {
			p, err := codec.Payload(rec, userKey)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := enc.Decode(p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("op=decode/impl=msgpack", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v User
			if err := msgpack.Unmarshal(payload, &v); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("op=store/impl=memostore", func(b *testing.B) { missMemostore(b, userFor(pool)) })
	b.Run("op=store/impl=bbolt-1000-per-tx", func(b *testing.B) { boltPuts(b, 1000, userFor(pool)) })

	ctx := context.Background()
	n := smallEntries
	order := rand.New(rand.NewPCG(3, 4)).Perm(n)
	s := openStore(b)
	user := userFor(pool)
	f := mustFunc(b, s, "users", func(_ context.Context, id int) (User, error) { return user(id), nil }, memo.MaxSize(0))
	for id := range n {
		if _, err := f.Call(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.Run("op=disk-hit/impl=memostore", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if v, err := f.Call(ctx, order[i%n]); err != nil || v.UserID != order[i%n] {
				b.Fatal(v.UserID, err)
			}
			i++
		}
	})
	db := boltFloor(b, n, func(id int) []byte {
		rec, err := enc.Encode(user(id), codec.AppendInt(nil, int64(id)), codec.Meta{StoredAt: now})
		if err != nil {
			b.Fatal(err)
		}
		return rec
	})
	b.Run("op=disk-hit/impl=bbolt-floor", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if v, err := floorGet[User](db, order[i%n]); err != nil || v.UserID != order[i%n] {
				b.Fatal(v.UserID, err)
			}
			i++
		}
	})
}
