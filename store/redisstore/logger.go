package redisstore

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// GoRedisLogger returns a logger for go-redis's redis.SetLogger that
// writes go-redis's own lines (a failed dial, a pool's trouble) to l, as
// warnings with source=go-redis, instead of to standard error.
//
// A store does not install it: go-redis (v9.22) has one logger for the
// whole process and no per-client one, so setting it would change the
// logging of every other Redis client of the program, and the logger set
// before cannot be read back to pass their lines on. The program decides:
//
//	redis.SetLogger(redisstore.GoRedisLogger(logger))
//
// During an outage, go-redis logs each failed dial (a few a second, from
// the store's probes and its subscription), which the store itself logs
// once.
func GoRedisLogger(l *slog.Logger) interface {
	Printf(ctx context.Context, format string, v ...any)
} {
	return goRedisLogger{l}
}

type goRedisLogger struct{ l *slog.Logger }

func (g goRedisLogger) Printf(ctx context.Context, format string, v ...any) {
	g.l.WarnContext(ctx, strings.TrimSpace(fmt.Sprintf(format, v...)), "source", "go-redis")
}
