//go:build redis

package main

// Built with -tags redis, fib also takes redis:// URLs. Without the tag it
// does not link the Redis client, as no program that stays with files
// does.
import _ "github.com/memostore/memostore/store/redisstore"
