package queue

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// go-redis logs through one process-wide logger, by default to stderr
// ("redis: … failed to dial …" while Redis is down). The first Queue made
// installs an adapter that sends those lines to a slog logger at debug level
// instead: the logger of the latest Queue given WithLogger, or nowhere.
var (
	redisLogOnce sync.Once
	redisLogTo   atomic.Pointer[slog.Logger]
)

// routeRedisLog installs the adapter once and, when set, makes l its target.
func routeRedisLog(l *slog.Logger, set bool) {
	redisLogOnce.Do(func() { redis.SetLogger(redisLog{}) })
	if set {
		redisLogTo.Store(l)
	}
}

type redisLog struct{}

func (redisLog) Printf(ctx context.Context, format string, v ...any) {
	l := redisLogTo.Load()
	if l == nil || !l.Enabled(ctx, slog.LevelDebug) {
		return
	}
	l.DebugContext(ctx, "redis client", "detail", strings.TrimSpace(fmt.Sprintf(format, v...)))
}
