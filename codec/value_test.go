package codec

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// mustValues returns the value codec for V or stops the test.
func mustValues[V any](tb testing.TB) *Values[V] {
	tb.Helper()
	c, err := NewValues[V]()
	if err != nil {
		tb.Fatalf("NewValues[%s]: %v", reflect.TypeFor[V](), err)
	}
	return c
}

// encodePayload encodes v into a record and returns its checked payload.
func encodePayload[V any](tb testing.TB, v V) []byte {
	tb.Helper()
	rec, err := mustValues[V](tb).Encode(v, testKey, Meta{StoredAt: 1, ExpiresAt: 2})
	if err != nil {
		tb.Fatalf("Encode(%T): %v", v, err)
	}
	return mustPayload(tb, rec)
}

// roundTrip encodes v into a record and decodes it back.
func roundTrip[V any](tb testing.TB, v V) V {
	tb.Helper()
	got, err := mustValues[V](tb).Decode(encodePayload(tb, v))
	if err != nil {
		tb.Fatalf("Decode(%T): %v", v, err)
	}
	return got
}

// checkRoundTrip checks that v comes back deeply equal.
func checkRoundTrip[V any](tb testing.TB, v V) {
	tb.Helper()
	if got := roundTrip(tb, v); !reflect.DeepEqual(got, v) {
		tb.Errorf("round trip of %T:\n got %#v\nwant %#v", v, got, v)
	}
}

type address struct {
	Street string
	City   string
	Zip    string
}

// userRecord is the ~1 KB record of the bounded-memory demo.
type userRecord struct {
	ID        int64
	Name      string
	Email     string
	Bio       string
	Tags      []string
	Scores    map[string]float64
	Home      *address
	Work      *address
	Friends   []int64
	Active    bool
	Balance   float64
	CreatedAt time.Time
	Avatar    []byte
	Prefs     map[string][]string
	Extra     map[int]string
}

func makeUser(id int64) userRecord {
	return userRecord{
		ID:        id,
		Name:      fmt.Sprintf("User %d", id),
		Email:     fmt.Sprintf("user%d@example.com", id),
		Bio:       strings.Repeat(fmt.Sprintf("bio of %d. ", id), 40),
		Tags:      []string{"a", "bb", "ccc", fmt.Sprint(id)},
		Scores:    map[string]float64{"math": 0.5, "art": -1.25, "nan-free": math.MaxFloat64},
		Home:      &address{Street: "1 Main St", City: "Springfield", Zip: fmt.Sprintf("%05d", id%100000)},
		Friends:   []int64{id - 1, id + 1, math.MinInt64, math.MaxInt64},
		Active:    id%2 == 0,
		Balance:   float64(id) / 3,
		CreatedAt: time.Date(2020, 1, 2, 3, 4, 5, int(id%1e9), time.UTC),
		Avatar:    bytes.Repeat([]byte{byte(id)}, 64),
		Prefs:     map[string][]string{"theme": {"dark"}, "langs": {"go", "py"}, "none": {}},
		Extra:     map[int]string{-1: "neg", 0: "", 1 << 40: "big"},
	}
}

type point struct{ X, Y int }

func TestValuesRoundTrip(t *testing.T) {
	seven := 7
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"int", func(t *testing.T) { checkRoundTrip(t, 42) }},
		{"int min", func(t *testing.T) { checkRoundTrip(t, math.MinInt64) }},
		{"uint64 max", func(t *testing.T) { checkRoundTrip(t, uint64(math.MaxUint64)) }},
		{"int8", func(t *testing.T) { checkRoundTrip(t, int8(-128)) }},
		{"float64", func(t *testing.T) { checkRoundTrip(t, math.Pi) }},
		{"float64 -0", func(t *testing.T) {
			if got := roundTrip(t, math.Copysign(0, -1)); !math.Signbit(got) {
				t.Errorf("-0.0 came back as %v", got)
			}
		}},
		{"float64 inf", func(t *testing.T) { checkRoundTrip(t, math.Inf(-1)) }},
		{"float32", func(t *testing.T) { checkRoundTrip(t, float32(1.5)) }},
		{"bool", func(t *testing.T) { checkRoundTrip(t, true) }},
		{"string", func(t *testing.T) { checkRoundTrip(t, "héllo, world") }},
		{"empty string", func(t *testing.T) { checkRoundTrip(t, "") }},
		{"long string", func(t *testing.T) { checkRoundTrip(t, strings.Repeat("x", 70000)) }},
		{"named string", func(t *testing.T) { checkRoundTrip(t, namedString("n")) }},
		{"duration", func(t *testing.T) { checkRoundTrip(t, 90*time.Minute) }},
		{"bytes", func(t *testing.T) { checkRoundTrip(t, []byte{0, 1, 0xff}) }},
		{"struct", func(t *testing.T) { checkRoundTrip(t, point{-3, 4}) }},
		{"zero struct", func(t *testing.T) { checkRoundTrip(t, point{}) }},
		{"key struct", func(t *testing.T) {
			checkRoundTrip(t, compositeKey{I: 1, S: "s", F: 2.5, F32: -1, B: true, A: [2]int8{3, 4}, U: 5, In: innerKey{"n", 6}})
		}},
		{"slice", func(t *testing.T) { checkRoundTrip(t, []int{1, -2, 300, math.MaxInt64}) }},
		{"empty slice", func(t *testing.T) { checkRoundTrip(t, []string{}) }},
		{"nil slice", func(t *testing.T) { checkRoundTrip(t, []string(nil)) }},
		{"slice of structs", func(t *testing.T) { checkRoundTrip(t, []point{{1, 2}, {3, 4}}) }},
		{"array", func(t *testing.T) { checkRoundTrip(t, [3]string{"a", "", "c"}) }},
		{"map", func(t *testing.T) { checkRoundTrip(t, map[string]int{"a": 1, "b": -2, "": 0}) }},
		{"map int keys", func(t *testing.T) { checkRoundTrip(t, map[int64]point{-1: {1, 1}, 1 << 50: {2, 2}}) }},
		{"nil map", func(t *testing.T) { checkRoundTrip(t, map[string]int(nil)) }},
		{"pointer", func(t *testing.T) { checkRoundTrip(t, &seven) }},
		{"nil pointer", func(t *testing.T) {
			if got := roundTrip[*point](t, nil); got != nil {
				t.Errorf("nil pointer came back as %v", got)
			}
		}},
		{"pointer to struct", func(t *testing.T) { checkRoundTrip(t, &point{5, 6}) }},
		{"struct with nil pointer", func(t *testing.T) { checkRoundTrip(t, userRecord{ID: 1, Home: nil}) }},
		{"recursive", func(t *testing.T) {
			checkRoundTrip(t, node{Name: "root", Kids: []*node{{Name: "a"}, {Name: "b", Kids: []*node{{Name: "c"}}}}})
		}},
		{"msgpack marshaler", func(t *testing.T) { checkRoundTrip(t, sealed{id: 7, name: "seven"}) }},
		{"msgpack marshaler in struct", func(t *testing.T) {
			checkRoundTrip(t, struct{ S []sealed }{[]sealed{{1, "a"}, {2, "b"}}})
		}},
		{"text marshaler", func(t *testing.T) {
			n, _ := new(big.Int).SetString("123456789012345678901234567890", 10)
			if got := roundTrip(t, n); got.Cmp(n) != 0 {
				t.Errorf("big.Int came back as %v", got)
			}
		}},
		{"binary marshaler", func(t *testing.T) { checkRoundTrip(t, netip.MustParseAddr("2001:db8::1")) }},
		{"skipped field", func(t *testing.T) {
			type withSkip struct {
				Name  string
				Cache map[string]int `msgpack:"-"`
			}
			got := roundTrip(t, withSkip{Name: "n", Cache: map[string]int{"x": 1}})
			if got.Name != "n" || got.Cache != nil {
				t.Errorf("got %+v, want Name n and no Cache", got)
			}
		}},
		{"embedded unexported struct", func(t *testing.T) {
			checkRoundTrip(t, withEmbedded{embeddedBase{Tag: "t"}, 3})
		}},
		{"user record", func(t *testing.T) {
			u := makeUser(123456)
			p := encodePayload(t, u)
			if len(p) < 900 || len(p) > 1600 {
				t.Errorf("user record payload is %d bytes, want about 1 KB", len(p))
			}
			checkRoundTrip(t, u)
			checkRoundTrip(t, &u)
			checkRoundTrip(t, []userRecord{u, makeUser(1)})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}

func TestValuesEncodeRecord(t *testing.T) {
	c := mustValues[userRecord](t)
	u := makeUser(9)
	rec, err := c.Encode(u, testKey, Meta{StoredAt: 1_700_000_000_000_000_000, ExpiresAt: 1_700_000_060_000_000_000})
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParseHeader(rec)
	if err != nil {
		t.Fatal(err)
	}
	if h.Version != RecordVersion || h.StoredAt != 1_700_000_000_000_000_000 || h.ExpiresAt != 1_700_000_060_000_000_000 {
		t.Errorf("header %+v", h)
	}
	p := mustPayload(t, rec)
	if err := Validate(p); err != nil {
		t.Errorf("Validate(payload): %v", err)
	}
	// The payload is plain msgpack that the reference decoder reads.
	var back userRecord
	if err := msgpack.Unmarshal(p, &back); err != nil || !back.CreatedAt.Equal(u.CreatedAt) || back.Bio != u.Bio {
		t.Errorf("msgpack.Unmarshal(payload) = %v", err)
	}
	// Encoding does not keep or share its buffer: records from later calls
	// leave earlier ones intact.
	again, err := c.Encode(makeUser(10), testKey, Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Decode(mustPayload(t, rec)); err != nil || !reflect.DeepEqual(got, u) {
		t.Errorf("first record changed after a second Encode: %v", err)
	}
	if bytes.Equal(rec, again) {
		t.Error("different values gave equal records")
	}
}

// failing has a marshaler that always fails.
type failing struct{ n int }

var errFailing = errors.New("failing marshaler")

func (failing) MarshalMsgpack() ([]byte, error) { return nil, errFailing }
func (*failing) UnmarshalMsgpack([]byte) error  { return errFailing }

func TestValuesEncodeError(t *testing.T) {
	type holder struct {
		Before string
		F      failing
	}
	c := mustValues[holder](t)
	if _, err := c.Encode(holder{Before: strings.Repeat("x", 100)}, testKey, Meta{StoredAt: 1, ExpiresAt: 2}); !errors.Is(err, errFailing) {
		t.Fatalf("Encode error %v, want it to wrap the marshaler's error", err)
	} else if !strings.Contains(err.Error(), "codec: encode") {
		t.Errorf("error %q lacks its operation", err)
	}
	// The pooled encoder holds nothing from the failed call.
	for range 10 {
		p := encodePayload(t, "ok")
		if !bytes.Equal(p, []byte{0xa2, 'o', 'k'}) {
			t.Fatalf("payload after a failed Encode = % x", p)
		}
	}
}

func TestValuesLargeValue(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), (maxPooledBuffer/16)+1000)
	if got := roundTrip(t, big); !bytes.Equal(got, big) {
		t.Errorf("%d-byte value came back as %d bytes", len(big), len(got))
	}
	checkRoundTrip(t, []byte("small after big"))
}

// wantUTC checks that got is the same instant as want and in UTC, so that
// it equals want.UTC() under ==.
func wantUTC(tb testing.TB, what string, got, want time.Time) {
	tb.Helper()
	if !got.Equal(want) {
		tb.Errorf("%s: %v, want the instant %v", what, got, want)
	}
	if got.Location() != time.UTC {
		tb.Errorf("%s: location %v, want UTC", what, got.Location())
	}
	if got != want.UTC() {
		tb.Errorf("%s: %#v != %#v", what, got, want.UTC())
	}
}

func TestValuesTimeUTC(t *testing.T) {
	times := []time.Time{
		time.Date(2024, 2, 29, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC),
		time.Unix(0, 0).UTC(),
		time.Unix(0, 1).UTC(),
		time.Unix(1<<34, 5).UTC(), // past the 64-bit timestamp form
		time.Unix(-1, 0).UTC(),
		time.Date(1900, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		{}, // the zero time
	}
	for _, tm := range times {
		t.Run(tm.Format(time.RFC3339Nano), func(t *testing.T) {
			got := roundTrip(t, tm)
			if got != tm || !reflect.DeepEqual(got, tm) {
				t.Errorf("got %#v, want %#v", got, tm)
			}
			p := &tm
			if got := roundTrip(t, p); *got != tm {
				t.Errorf("through a pointer: got %#v, want %#v", *got, tm)
			}
		})
	}
}

type timeHolder struct {
	At    time.Time
	Ptr   *time.Time
	Nil   *time.Time
	Slice []time.Time
	Array [2]time.Time
	Map   map[string]time.Time
	ByDay map[time.Time]string
	Deep  []map[string][]*time.Time
	embeddedBase
}

func TestValuesTimeNormalized(t *testing.T) {
	zones := []*time.Location{
		time.FixedZone("UTC+5", 5*3600),
		time.FixedZone("UTC-7:30", -(7*3600 + 1800)),
		time.Local,
	}
	for _, loc := range zones {
		t.Run(loc.String(), func(t *testing.T) {
			tm := time.Date(2023, 10, 29, 1, 30, 0, 123_456_789, loc)
			wantUTC(t, "bare", roundTrip(t, tm), tm)
			checkRoundTrip(t, tm.UTC())

			p := tm.Add(time.Hour)
			in := timeHolder{
				At:           tm,
				Ptr:          &p,
				Slice:        []time.Time{tm, tm.Add(time.Second)},
				Array:        [2]time.Time{tm, tm.Add(-time.Second)},
				Map:          map[string]time.Time{"a": tm, "b": tm.Add(time.Minute)},
				ByDay:        map[time.Time]string{tm: "x", tm.Add(24 * time.Hour): "y"},
				Deep:         []map[string][]*time.Time{{"d": {&p, nil}}},
				embeddedBase: embeddedBase{When: tm, Tag: "e"},
			}
			got := roundTrip(t, in)
			wantUTC(t, ".At", got.At, in.At)
			if got.Ptr == nil {
				t.Fatal(".Ptr came back nil")
			}
			wantUTC(t, ".Ptr", *got.Ptr, p)
			if got.Nil != nil {
				t.Errorf(".Nil came back as %v", got.Nil)
			}
			for i := range in.Slice {
				wantUTC(t, fmt.Sprintf(".Slice[%d]", i), got.Slice[i], in.Slice[i])
			}
			for i := range in.Array {
				wantUTC(t, fmt.Sprintf(".Array[%d]", i), got.Array[i], in.Array[i])
			}
			for k, v := range in.Map {
				wantUTC(t, ".Map["+k+"]", got.Map[k], v)
			}
			if len(got.ByDay) != len(in.ByDay) {
				t.Errorf(".ByDay has %d entries, want %d", len(got.ByDay), len(in.ByDay))
			}
			for k, v := range in.ByDay {
				// A map keyed by time is usable with UTC keys after decoding.
				if gv, ok := got.ByDay[k.UTC()]; !ok || gv != v {
					t.Errorf(".ByDay[%v] = %q, %v; want %q", k.UTC(), gv, ok, v)
				}
			}
			for k := range got.ByDay {
				if k.Location() != time.UTC {
					t.Errorf(".ByDay key %v is not in UTC", k)
				}
			}
			if d := got.Deep[0]["d"]; len(d) != 2 || d[0] == nil || d[1] != nil {
				t.Errorf(".Deep = %v", got.Deep)
			} else {
				wantUTC(t, ".Deep[0][d][0]", *d[0], p)
			}
			wantUTC(t, ".When (embedded)", got.When, in.When)

			// Normalizing the input to UTC first gives an exact round trip.
			norm := timeHolder{
				At:           tm.UTC(),
				Ptr:          ptrTo(p.UTC()),
				Slice:        []time.Time{tm.UTC()},
				Map:          map[string]time.Time{"a": tm.UTC()},
				ByDay:        map[time.Time]string{tm.UTC(): "x"},
				embeddedBase: embeddedBase{When: tm.UTC()},
			}
			checkRoundTrip(t, norm)
		})
	}
	// A time read from the clock carries a monotonic reading, which is
	// dropped: the result is Equal, and == to its UTC form.
	now := time.Now()
	wantUTC(t, "time.Now()", roundTrip(t, now), now)
}

// ptrTo returns a pointer to a copy of v.
func ptrTo[T any](v T) *T { return &v }

// decodeAs decodes payload as a V.
func decodeAs[V any](tb testing.TB, payload []byte) error {
	tb.Helper()
	_, err := mustValues[V](tb).Decode(payload)
	return err
}

func TestValuesDecodeWrongType(t *testing.T) {
	tests := []struct {
		name    string
		payload func(t *testing.T) []byte
		decode  func(t *testing.T, p []byte) error
	}{
		{"string as int", func(t *testing.T) []byte { return encodePayload(t, "hello") },
			func(t *testing.T, p []byte) error { return decodeAs[int](t, p) }},
		{"int as string", func(t *testing.T) []byte { return encodePayload(t, 12345) },
			func(t *testing.T, p []byte) error { return decodeAs[string](t, p) }},
		{"slice as map", func(t *testing.T) []byte { return encodePayload(t, []int{1, 2}) },
			func(t *testing.T, p []byte) error { return decodeAs[map[string]int](t, p) }},
		{"map as slice", func(t *testing.T) []byte { return encodePayload(t, map[string]int{"a": 1}) },
			func(t *testing.T, p []byte) error { return decodeAs[[]int](t, p) }},
		{"struct as int", func(t *testing.T) []byte { return encodePayload(t, point{1, 2}) },
			func(t *testing.T, p []byte) error { return decodeAs[int](t, p) }},
		{"string as struct", func(t *testing.T) []byte { return encodePayload(t, "point") },
			func(t *testing.T, p []byte) error { return decodeAs[point](t, p) }},
		{"user as slice of users", func(t *testing.T) []byte { return encodePayload(t, makeUser(1)) },
			func(t *testing.T, p []byte) error { return decodeAs[[]userRecord](t, p) }},
		{"field of wrong type", func(t *testing.T) []byte {
			return encodePayload(t, struct{ X string }{"not a number"})
		}, func(t *testing.T, p []byte) error { return decodeAs[point](t, p) }},
		{"string as time", func(t *testing.T) []byte { return encodePayload(t, "2024-01-01") },
			func(t *testing.T, p []byte) error { return decodeAs[time.Time](t, p) }},
		{"time as int", func(t *testing.T) []byte { return encodePayload(t, time.Unix(1, 0).UTC()) },
			func(t *testing.T, p []byte) error { return decodeAs[int](t, p) }},
		{"int as bool", func(t *testing.T) []byte { return encodePayload(t, 2) },
			func(t *testing.T, p []byte) error { return decodeAs[bool](t, p) }},
		{"float as string slice", func(t *testing.T) []byte { return encodePayload(t, 1.5) },
			func(t *testing.T, p []byte) error { return decodeAs[[]string](t, p) }},
		{"string map as int map", func(t *testing.T) []byte { return encodePayload(t, map[string]string{"a": "b"}) },
			func(t *testing.T, p []byte) error { return decodeAs[map[int]int](t, p) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.decode(t, tt.payload(t))
			if err == nil {
				t.Fatal("Decode succeeded")
			}
			if !strings.HasPrefix(err.Error(), "codec: decode ") {
				t.Errorf("error %q lacks its operation", err)
			}
		})
	}
}

func TestValuesDecodeMalformed(t *testing.T) {
	c := mustValues[userRecord](t)
	good := encodePayload(t, makeUser(77))
	// msgpack is self-delimiting: no proper prefix of a value is a value.
	for n := range len(good) {
		if _, err := c.Decode(good[:n]); err == nil {
			t.Fatalf("Decode of the first %d of %d bytes succeeded", n, len(good))
		}
	}
	if _, err := c.Decode(good); err != nil {
		t.Fatalf("Decode(good): %v", err)
	}
	tests := []struct {
		name    string
		payload []byte
	}{
		{"nil", nil},
		{"trailing byte", append(bytes.Clone(good), 0xc0)},
		{"two values", append(bytes.Clone(good), good...)},
		{"invalid code", []byte{0xc1}},
		{"invalid code in struct", []byte{0x81, 0xa2, 'I', 'D', 0xc1}},
		{"huge map", []byte{0xdf, 0xff, 0xff, 0xff, 0xff}},
		{"huge string field", []byte{0x81, 0xa4, 'N', 'a', 'm', 'e', 0xdb, 0x7f, 0xff, 0xff, 0xff}},
		{"huge slice field", []byte{0x81, 0xa4, 'T', 'a', 'g', 's', 0xdd, 0xff, 0xff, 0xff, 0xff}},
		{"bad time ext", []byte{0x81, 0xa9, 'C', 'r', 'e', 'a', 't', 'e', 'd', 'A', 't', 0xc7, 0x03, 0xff, 1, 2, 3}},
		{"unknown ext as time", []byte{0x81, 0xa9, 'C', 'r', 'e', 'a', 't', 'e', 'd', 'A', 't', 0xd6, 0x05, 1, 2, 3, 4}},
		{"map key not a string", []byte{0x81, 0x01, 0x02}},
		{"array where map expected", []byte{0x81, 0xa6, 'S', 'c', 'o', 'r', 'e', 's', 0x91, 0x01}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v, err := c.Decode(tt.payload); err == nil {
				t.Errorf("Decode(% .24x) = %+v, want an error", tt.payload, v.ID)
			}
		})
	}
}

func TestNewValuesRejects(t *testing.T) {
	tests := []struct {
		name string
		typ  reflect.Type
		new  func() error
	}{
		{"unexported", reflect.TypeFor[valueOwner](), func() error { _, err := NewValues[valueOwner](); return err }},
		{"any", reflect.TypeFor[any](), func() error { _, err := NewValues[any](); return err }},
		{"chan", reflect.TypeFor[chan int](), func() error { _, err := NewValues[chan int](); return err }},
		// msgpack panics on uintptr rather than returning an error.
		{"uintptr", reflect.TypeFor[uintptr](), func() error { _, err := NewValues[uintptr](); return err }},
		{"func field", reflect.TypeFor[struct{ F func() }](), func() error { _, err := NewValues[struct{ F func() }](); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var te *TypeError
			err := tt.new()
			if !isTypeError(err, &te) || te.Role != "value" || te.Type != tt.typ {
				t.Errorf("NewValues error %v, want a value *TypeError for %v", err, tt.typ)
			}
		})
	}
}

func TestValuesConcurrent(t *testing.T) {
	c := mustValues[userRecord](t)
	const workers, iterations = 8, 100
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range iterations {
				u := makeUser(int64(w*iterations + i))
				rec, err := c.Encode(u, testKey, Meta{StoredAt: int64(i)})
				if err != nil {
					errs <- err
					return
				}
				p, err := Payload(rec, testKey)
				if err != nil {
					errs <- err
					return
				}
				got, err := c.Decode(p)
				if err != nil {
					errs <- err
					return
				}
				if !reflect.DeepEqual(got, u) {
					errs <- fmt.Errorf("worker %d: user %d came back as user %d", w, u.ID, got.ID)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestDecodeAny(t *testing.T) {
	valid := []struct {
		name string
		in   []byte
		want any
	}{
		{"nil", []byte{0xc0}, nil},
		{"true", []byte{0xc3}, true},
		{"fixint", []byte{0x05}, int8(5)},
		{"negative", []byte{0xd0, 0x80}, int8(-128)},
		{"uint16", []byte{0xcd, 0x01, 0x00}, uint16(256)},
		{"string", []byte{0xa2, 'h', 'i'}, "hi"},
		{"float32", []byte{0xca, 0x3f, 0x80, 0, 0}, float32(1)},
		{"bin", []byte{0xc4, 0x02, 0xde, 0xad}, []byte{0xde, 0xad}},
		{"array", []byte{0x92, 0x01, 0xa1, 'x'}, []any{int8(1), "x"}},
		{"map", []byte{0x81, 0xa1, 'k', 0x90}, map[string]any{"k": []any{}}},
		{"time", []byte{0xd6, 0xff, 0, 0, 0, 1}, time.Unix(1, 0)},
	}
	for _, tt := range valid {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeAny(tt.in)
			if err != nil {
				t.Fatalf("DecodeAny(% x): %v", tt.in, err)
			}
			if wt, ok := tt.want.(time.Time); ok {
				if gt, ok := got.(time.Time); !ok || !gt.Equal(wt) {
					t.Errorf("DecodeAny(% x) = %v, want %v", tt.in, got, wt)
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("DecodeAny(% x) = %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
	invalid := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"truncated", []byte{0xa2, 'h'}},
		{"trailing", []byte{0x01, 0x02}},
		{"invalid code", []byte{0xc1}},
		{"huge array", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}},
		{"unknown ext", []byte{0xd4, 0x42, 0x00}},
		{"bad time ext length", []byte{0xc7, 0x03, 0xff, 1, 2, 3}},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			if v, err := DecodeAny(tt.in); err == nil {
				t.Errorf("DecodeAny(% x) = %#v, want an error", tt.in, v)
			}
		})
	}
}
