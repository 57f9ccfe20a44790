package redisstore

import (
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// errorCode returns the first word of the server's error reply err
// ("OOM", "NOPERM", "MOVED"...), or "" if err is not a reply.
func errorCode(err error) string {
	var reply redis.Error
	if !errors.As(err, &reply) {
		return ""
	}
	code, _, _ := strings.Cut(reply.Error(), " ")
	return code
}

// isOOM reports whether err is the server's refusal of a write at
// maxmemory (with the noeviction policy, or nothing left to evict).
func isOOM(err error) bool { return errorCode(err) == "OOM" }

// oomIn reports whether err, the outcome of a pipeline or transaction of
// cmds, is a refusal at maxmemory: a transaction with a refused write is
// discarded (EXECABORT), its refused commands failing with OOM.
func oomIn(err error, cmds []redis.Cmder) bool {
	if isOOM(err) {
		return true
	}
	for _, c := range cmds {
		if isOOM(c.Err()) {
			return true
		}
	}
	return false
}

// howToOpenCluster says how to open a Redis Cluster.
const howToOpenCluster = "open the cluster with a URL that names its nodes with addr= parameters (redis://host1:port1?addr=host2:port2), or with redisstore.Open(redis.NewClusterClient(...))"

// explain says what err, the outcome of cmd, means: that the server could
// not be reached, or why it refused. cmd may be nil.
func (s *redisStore) explain(cmd redis.Cmder, err error) error {
	what := "a command"
	if cmd != nil {
		what = strings.ToUpper(cmd.Name())
		if args := cmd.Args(); len(args) > 1 {
			what += fmt.Sprintf(" on key %v", args[1])
		}
	}
	switch errorCode(err) {
	case "":
		return fmt.Errorf("cannot reach Redis: %w", err)
	case "WRONGPASS", "NOAUTH":
		return fmt.Errorf("authentication failed (check the user name and password): %w", err)
	case "NOPERM":
		return fmt.Errorf("permission denied: the user may not run %s (see ACL SETUSER): %w", what, err)
	case "MOVED", "ASK":
		if s.sharded {
			return fmt.Errorf("the Redis Cluster moved a slot and the client did not follow it: %w", err)
		}
		return fmt.Errorf("this server is a node of a Redis Cluster: %s: %w", howToOpenCluster, err)
	case "CLUSTERDOWN":
		if s.sharded {
			return fmt.Errorf("the Redis Cluster is down: %w", err)
		}
		return fmt.Errorf("this server is a node of a Redis Cluster, which is down or not set up: %s: %w", howToOpenCluster, err)
	case "OOM":
		return fmt.Errorf("Redis is out of memory (maxmemory reached, and its policy evicts nothing) and refused %s: %w", what, err)
	case "READONLY":
		return fmt.Errorf("this server is a read-only replica: open its primary, or open read-only: %w", err)
	case "LOADING":
		return fmt.Errorf("Redis is loading its data set; try again when it is done: %w", err)
	}
	return fmt.Errorf("Redis refused %s: %w", what, err)
}
