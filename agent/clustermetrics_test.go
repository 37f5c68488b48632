package agent

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/observe"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/queue/queuetest"
)

func TestMetricsEndpointHasTheClusterFigures(t *testing.T) {
	ctx := context.Background()
	srv := queuetest.StartRedis(t)
	q := queuetest.Opener(srv.URL())(t)
	for i := 1; i <= 100; i++ {
		if err := q.RecordTiming(ctx, "deploy", time.Duration(i)*10*time.Millisecond, true); err != nil {
			t.Fatal(err)
		}
	}
	a := &Agent{Metrics: NewMetrics()}
	a.Metrics.ClusterMetrics(func(ctx context.Context) (*observe.Metrics, error) {
		return observe.Collect(ctx, q, []string{queue.RoleQueue("web")})
	})
	body := scrape(t, a)
	for _, want := range []string{
		"cl_cluster_metrics_up 1",
		`cl_cluster_operation_duration_seconds{kind="deploy",quantile="0.5"} 0.5`,
		`cl_cluster_operation_duration_seconds{kind="deploy",quantile="0.95"} 0.95`,
		`cl_cluster_operation_duration_seconds{kind="deploy",quantile="0.99"} 0.99`,
		`cl_cluster_operation_duration_seconds_count{kind="deploy"} 100`,
		`cl_queue_size{queue="role:web",state="waiting"} 0`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	srv.Stop()
	if body := scrape(t, a); !strings.Contains(body, "cl_cluster_metrics_up 0\n") {
		t.Errorf("with Redis down, want cl_cluster_metrics_up 0")
	}
}

func scrape(t *testing.T, a *Agent) string {
	t.Helper()
	rec := httptest.NewRecorder()
	Handler(a, nil, nil, nil, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}
