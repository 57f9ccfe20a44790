// Command ttl shows time-based expiration, which the Python course builds
// by wrapping lru_cache in a decorator of its own: here it is one option.
//
//	go run ./examples/ttl
package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

func main() {
	log.SetFlags(0)
	s, err := store.Open("ttl.db", store.WithSweepInterval(time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()

	fetches := 0
	weather, err := memo.New(s, "weather", func(_ context.Context, city string) (string, error) {
		fetches++ // an expensive API call, in real life
		return fmt.Sprintf("%s: sunny (fetch #%d at %s)", city, fetches, time.Now().Format("15:04:05.000")), nil
	}, memo.TTL(2*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	if err := weather.Clear(ctx); err != nil { // start fresh on every run
		log.Fatal(err)
	}

	for _, wait := range []time.Duration{0, time.Second, 1500 * time.Millisecond} {
		time.Sleep(wait)
		v, err := weather.Call(ctx, "Lisbon")
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("after %-6v %s   %v\n", wait, v, weather.Info())
	}
	// The recomputed entry expires two seconds after it was stored; the
	// sweeper, running every second, removes it from the file.
	time.Sleep(3 * time.Second)
	if err := s.Flush(ctx); err != nil {
		log.Fatal(err)
	}
	for _, ns := range s.Stats().Namespaces {
		fmt.Printf("store: %q holds %d entries, %d expired and swept\n", ns.Name, ns.Entries, ns.Expirations)
	}
}
