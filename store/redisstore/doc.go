// Package redisstore is memostore's Redis backend: a store on a Redis
// server (or Valkey: the protocol is the same) shared by many processes
// and machines. Importing it, even blank, lets store.Open take redis://,
// rediss:// and unix:// URLs:
//
//	import _ "github.com/memostore/memostore/store/redisstore"
//
//	s, err := store.Open("redis://127.0.0.1:6379/0")
//
// A URL has the form redis://[[user]:password@]host[:port][/db][?options]
// that go-redis's ParseURL accepts, plus one option of memostore's own,
// prefix (see WithPrefix). Open takes a client the program built instead
// (Cluster, Sentinel, TLS with its own CA, ACL users). A program that
// never imports this package does not link go-redis.
//
// Each entry is kept in its own key, PREFIX:NAMESPACE:VERSION:d:KEY,
// holding the same checksummed record as a file does, with a native Redis
// TTL for expiry: there is nothing to sweep. Namespace metadata and
// counters live in hashes (PREFIX:NAMESPACE:meta, PREFIX:NAMESPACE:counts;
// counters are added with HINCRBY). VERSION is a fingerprint of the
// namespace's version and key and value types: a claim with another
// version or other types moves the namespace to new keys at once, and the
// old ones, never read again, are deleted in the background (Flush waits
// for it; a Close cuts it short, and the next claim of the namespace, in
// any process, takes it up again). Clear deletes incrementally with SCAN
// and UNLINK, and tells every process sharing the server to empty its
// memory tier. When several processes miss on one key
// at once, one computes and the others wait for its result (see
// store.Namespace.Acquire).
//
// Writes go straight to the server, one round trip per Put (the record and
// the counters in one pipeline). When the server is unreachable or slow,
// each step of an exchange (waiting for a free connection, connecting,
// the reply) gives up after WithTimeout, and commands are never re-sent;
// the store then leaves the server alone for a short, growing back-off,
// and callers carry on without it: lookups miss, writes are dropped
// (store.ErrUnavailable), and both are counted; the outage is logged
// once. The client reconnects by itself. A Clear reaches the other
// processes through Redis Pub/Sub, which delivers at most once: a process
// cut off from the server at that moment misses it, so a process purges
// its memory tiers when the server answers it again after an outage, and
// when its subscription is restored.
//
// # Caveats
//
//   - Entries and Bytes are not counted: the server expires and evicts
//     keys by itself and tells no one.
//   - Memory tiers of other processes are emptied by Clear, not by Forget.
//   - The file-only operations of store (Inspect, Keys, Check, Compact)
//     return store.ErrUnsupported, and the file-only options are refused.
package redisstore

import "github.com/memostore/memostore/store/driver"

// The interfaces a Redis store implements, checked by the compiler. It
// has none of the file's optional capabilities.
var (
	_ driver.Store     = (*redisStore)(nil)
	_ driver.Namespace = (*redisNS)(nil)
)
