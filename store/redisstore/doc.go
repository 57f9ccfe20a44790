// Package redisstore is memostore's Redis backend: a store on a Redis
// server or a Redis Cluster shared by many processes and machines.
// Importing it, even blank, lets store.Open take redis://, rediss:// and
// unix:// URLs:
//
//	import _ "github.com/memostore/memostore/store/redisstore"
//
//	s, err := store.Open("redis://127.0.0.1:6379/0")
//	s, err := store.Open("redis://10.0.0.1:6379?addr=10.0.0.2:6379&addr=10.0.0.3:6379") // a Cluster
//
// A URL has the form redis://[[user]:password@]host[:port][/db][?options]
// that go-redis's ParseURL accepts, plus one option of memostore's own,
// prefix (see WithPrefix). Every option of go-redis's is honoured
// (pool_size, client_name, protocol...); dial_timeout, read_timeout,
// write_timeout and pool_timeout win over WithTimeout for that step of an
// exchange, WithTimeout bounding the others and the store's own waits. Of
// retries, only max_retries=-1 is taken (none: a store never re-sends a
// command); other values, min_retry_backoff and max_retry_backoff are
// refused by Open. Open takes a client the program built instead
// (Cluster, Sentinel, Ring, TLS with its own CA, ACL users). A program
// that never imports this package does not link go-redis.
//
// # Redis Cluster, Sentinel, Ring, Valkey
//
// A URL with addr= parameters opens a Redis Cluster: its host and each
// addr are nodes the client learns the cluster from (one is enough; list
// several in case one is down), with the options of go-redis's
// ParseClusterURL and these rules; its path may only name database 0, the
// only one a cluster has. A ClusterClient follows MOVED and ASK
// redirections (when slots move between masters: resharding, failover)
// up to max_redirects times, 3 unless the URL sets it; go-redis re-sends
// a command that failed on a broken connection within the same count, so
// on a cluster a command may, rarely, run twice (a counter counts twice).
// max_redirects=-1 follows none: a command on a slot that moved then
// fails once (a miss, a dropped write) and the next goes to the new
// master. Open takes a *redis.ClusterClient the program built, too.
// A node of a cluster opened as one server is refused, with an error
// that says how to open the cluster.
//
// On a cluster the keys are the same as on one server. An entry's key and
// its computation lock's hold one hash tag, {HASH}, a hash of the store
// key: the two lie in one slot, so that the Put that writes the entry and
// releases the lock reaches one node, in that order, and a waiter that
// takes the released lock finds the entry; the entries of different keys
// spread over every master. No other key has a tag, and the prefix may
// hold no brace. No command names keys of two slots: what a lookup reads
// together (the generations and the entry) it reads in one pipeline, a
// GET a key, which the client splits by node and sends to every node at
// once: one round trip, as on one server, where it is one MGET. Clear and
// the deletion of keys no one reads SCAN every master.
// Clear messages go by Pub/Sub, which a cluster delivers to the
// subscribers on every node. The store has one breaker for the whole
// cluster: while a master does not answer (until its replica takes
// over), the store treats the cluster as out, as it would one server.
//
// Sentinel: open the *redis.Client of redis.NewFailoverClient (or what
// redis.NewUniversalClient returns for a MasterName), which is one server
// to the store; a failover is an outage while it lasts. A *redis.Ring,
// whose client shards keys over servers, is handled as a cluster; as a
// Ring does not move keys when a server is added or removed, the entries
// of the keys that move are lost (misses, recomputed).
//
// Valkey speaks the same protocol: the store uses only commands that
// Redis 6.2 and Valkey both have (GET, MGET, SET with NX and PX, UNLINK,
// EXISTS, hashes, sets, PTTL, PEXPIRE, EVAL of short scripts with the
// keys they touch declared, MULTI/EXEC, SCAN, PUBLISH and SUBSCRIBE,
// INFO), none of the modules', so Valkey servers and clusters work as
// Redis's do.
//
// Each entry is kept in its own key,
// PREFIX:NAMESPACE:VERSION:GEN:d:{HASH}KEY, holding the same checksummed
// record as a file does, with a native Redis TTL for expiry: there is
// nothing to sweep. {HASH} is a hash tag (see Redis Cluster below); a
// release of memostore from before it wrote PREFIX:NAMESPACE:VERSION:GEN:d:KEY.
// Its entries count as another version's, as the layout is part of
// VERSION: they are not read, and are deleted once no process of that
// release has used them for WithVersionGrace, while both releases share
// the server in a rolling deploy. Namespace metadata and
// counters live in hashes (PREFIX:NAMESPACE:meta, PREFIX:NAMESPACE:counts;
// counters are added with HINCRBY).
//
// VERSION is a fingerprint of the namespace's version, key and value
// types, and key layout. Versions coexist: in a rolling deploy, processes
// of the old and the new version share the server, each reading only its
// own version's entries; a claim deletes nothing. The entries of a version that no
// process has used for WithVersionGrace (DefaultVersionGrace, 24 hours)
// are deleted in the background; memoctl clear --stale (see ClearStale)
// deletes them at once.
//
// GEN is STORE.NS, two generations: the store's (PREFIX:gen) and the
// namespace's (PREFIX:NAMESPACE:gen). Clear raises one of them, in one
// command, and returns in three round trips however many keys the server
// holds: every lookup reads the generations with the entry (one MGET, or
// one pipeline on a cluster), so
// that after Clear returns no process reads an entry written before it,
// even by a Put that was in flight. The old entries are deleted in the
// background, a page of SCAN at a time (Flush waits for it; Close cuts it
// short, and the next one goes on).
//
// The control keys (the format key, the namespaces set, the meta hashes,
// the generations) are put back by the commands a process sends anyway
// (every Put, every push of counters) when the server loses them: after
// FLUSHALL, a restart without persistence, or an eviction under
// allkeys-lru. Clear needs none of them. When several processes miss on
// one key at once, one computes and the others wait for its result (see
// store.Namespace.Acquire).
//
// Writes go straight to the server, one round trip per Put (the record and
// the counters in one pipeline). When the server is unreachable or slow,
// each step of an exchange (waiting for a free connection, connecting,
// the reply) gives up after WithTimeout, and commands are never re-sent;
// the store then leaves the server alone for a short, growing back-off,
// and callers carry on without it: lookups miss, writes are dropped
// (store.ErrUnavailable), and both are counted; the outage is logged
// once. So is a run of failed writes of any kind (the server out of
// memory refuses them with OOM): the first is logged, the others are
// counted, and the run's end is logged with how many failed, as is every
// WriteFailureReminder it lasts; Put's error is then store.ErrUnavailable
// too. go-redis logs lines of its own (each failed dial) through its one
// process-wide logger, which a store leaves alone (see GoRedisLogger).
// Waiting for a free connection of the client's pool is no outage:
// the caller carries on without the server, and the others go on using
// it. The client reconnects by itself. A Clear reaches the other
// processes' memory tiers through Redis Pub/Sub, which delivers at most
// once: a process cut off from the server at that moment misses it, so
// when the server answers it again after an outage, and when its
// subscription is restored, a process reads the generations and purges
// the memory tiers of the namespaces cleared meanwhile, and only those.
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
	_ driver.Claimer   = (*redisNS)(nil)
)
