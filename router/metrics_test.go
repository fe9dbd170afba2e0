package router

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/rollout"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestWindowWithFrozenClock drives the router's clock by hand: the upstream advances it by the
// latency each response should have, and the test advances it between batches.
func TestWindowWithFrozenClock(t *testing.T) {
	clk := newClock()
	var latency time.Duration
	up := upstream(t, "a", func(w http.ResponseWriter, r *http.Request) {
		clk.Advance(latency)
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	rt := New(Options{Now: clk.Now})
	setRoutes(t, rt, Route{Version: "a", URL: up.URL, Weight: 1})
	url, client := front(t, rt)
	send := func(n int, path string, d time.Duration) {
		t.Helper()
		latency = d
		for range n {
			get(t, client, url+path, nil)
		}
	}

	send(8, "/", time.Millisecond) // t ≈ 0
	send(2, "/fail", 0)
	clk.Advance(time.Second)
	send(10, "/", 400*time.Millisecond) // t ≈ 1s..5s
	clk.Advance(500 * time.Millisecond)

	tests := []struct {
		name         string
		window       time.Duration
		wantRequests int64
		wantErrors   int64
	}{
		{"short window sees only the recent batch", 5 * time.Second, 10, 0},
		{"longer window sees both", 10 * time.Second, 20, 2},
		{"a minute, from the coarse ring", time.Minute, 20, 2},
		{"beyond MaxWindow is capped", time.Hour, 20, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := rt.Window("a", tt.window)
			if w.Requests != tt.wantRequests || w.Errors != tt.wantErrors {
				t.Errorf("Window(%s) = %d requests, %d errors; want %d, %d", tt.window, w.Requests, w.Errors, tt.wantRequests, tt.wantErrors)
			}
		})
	}
	if p99 := rt.Window("a", 5*time.Second).Quantile(0.99); p99 < 300*time.Millisecond || p99 > 400*time.Millisecond {
		t.Errorf("p99 = %s, want in (300ms, 400ms]", p99)
	}
	v := rollout.Evaluate(sluice.Alarm{Metric: sluice.MetricErrorRate, Threshold: 0.05, Window: 10 * time.Second}, rt.Window("a", 10*time.Second))
	if !v.Breached || v.Reason != "error_rate 0.1 > 0.05 over 10s (2 of 20 requests)" {
		t.Errorf("verdict %+v", v)
	}

	clk.Advance(40 * time.Second)
	if w := rt.Window("a", 10*time.Second); w.Requests != 0 {
		t.Errorf("after 40s of silence a 10s window holds %d requests", w.Requests)
	}
	if w := rt.Window("a", time.Minute); w.Requests != 20 {
		t.Errorf("a 1m window holds %d requests, want 20", w.Requests)
	}
	clk.Advance(MaxWindow)
	if w := rt.Window("a", MaxWindow); w.Requests != 0 {
		t.Errorf("after MaxWindow the longest window holds %d requests", w.Requests)
	}
	if w := rt.Window("unknown", time.Minute); w.Requests != 0 || w.Span != time.Minute {
		t.Errorf("unknown version window = %+v", w)
	}
}

func TestRingReusesSlots(t *testing.T) {
	tests := []struct {
		name  string
		at    []time.Duration // when each response ended
		now   time.Duration
		span  time.Duration
		want  int64
		width time.Duration
		slots int
	}{
		{"all in the current bucket", []time.Duration{0, 10, 99 * time.Millisecond}, 99 * time.Millisecond, time.Second, 3, fineWidth, 10},
		{"a full lap later the old responses are gone", []time.Duration{0, 50 * time.Millisecond, time.Second}, time.Second, 500 * time.Millisecond, 1, fineWidth, 10},
		{"window longer than the ring is capped", []time.Duration{0, 500 * time.Millisecond, 900 * time.Millisecond}, 950 * time.Millisecond, time.Hour, 2, fineWidth, 10},
		{"a late response older than the ring is dropped", []time.Duration{2 * time.Second, 100 * time.Millisecond}, 2 * time.Second, 200 * time.Millisecond, 1, fineWidth, 10},
		{"negative offsets count as the start", []time.Duration{-time.Second}, 0, 100 * time.Millisecond, 1, fineWidth, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r ring
			r.init(tt.width, tt.slots)
			for _, at := range tt.at {
				r.add(at, false, 0, time.Millisecond)
			}
			if got := r.window(tt.now, tt.span).Requests; got != tt.want {
				t.Errorf("window = %d requests, want %d", got, tt.want)
			}
		})
	}
}

func TestWriteMetrics(t *testing.T) {
	rt := New(Options{})
	setRoutes(t, rt,
		Route{Version: "v1", URL: upstream(t, "v1", nil).URL, Weight: 90},
		Route{Version: "v2", URL: upstream(t, "v2", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
		}).URL, Weight: 10})
	url, client := front(t, rt)
	for range 100 {
		get(t, client, url, nil)
	}
	var b strings.Builder
	if err := rt.WriteMetrics(&b, `dev "1"`); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"# TYPE sluice_requests_total counter\n",
		`sluice_requests_total{environment="dev \"1\"",version="v1",code_class="2xx"} 90` + "\n",
		`sluice_requests_total{environment="dev \"1\"",version="v1",code_class="5xx"} 0` + "\n",
		`sluice_requests_total{environment="dev \"1\"",version="v2",code_class="5xx"} 10` + "\n",
		"# TYPE sluice_request_duration_seconds histogram\n",
		`sluice_request_duration_seconds_bucket{environment="dev \"1\"",version="v1",le="0.00025"} `,
		`sluice_request_duration_seconds_bucket{environment="dev \"1\"",version="v1",le="+Inf"} 90` + "\n",
		`sluice_request_duration_seconds_count{environment="dev \"1\"",version="v2"} 10` + "\n",
		`sluice_request_duration_seconds_sum{environment="dev \"1\"",version="v2"} `,
		`sluice_in_flight{environment="dev \"1\"",version="v1"} 0` + "\n",
		`sluice_route_weight{environment="dev \"1\"",version="v1"} 90` + "\n",
		`sluice_route_weight{environment="dev \"1\"",version="v2"} 10` + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q\n%s", want, out)
		}
	}
	if strings.Contains(out, `code_class="4xx"`) {
		t.Errorf("metrics have a 4xx series with no 4xx response:\n%s", out)
	}

	// A removed version stays in the metrics with weight 0.
	setRoutes(t, rt, Route{Version: "v1", URL: "http://127.0.0.1:1", Weight: 100})
	b.Reset()
	rt.WriteMetrics(&b, "dev")
	if !strings.Contains(b.String(), `sluice_route_weight{environment="dev",version="v2"} 0`+"\n") {
		t.Errorf("removed version missing or not at weight 0:\n%s", b.String())
	}
}

func TestRemovedVersionsAreForgottenBeyondTheLimit(t *testing.T) {
	rt := New(Options{})
	for i := range retainRemoved + 5 {
		setRoutes(t, rt, Route{Version: "v" + string(rune('a'+i)), URL: "http://127.0.0.1:1", Weight: 1})
	}
	rt.mu.Lock()
	n := len(rt.stats)
	rt.mu.Unlock()
	if n != retainRemoved+1 {
		t.Errorf("router keeps metrics of %d versions, want %d (the routed one and %d removed)", n, retainRemoved+1, retainRemoved)
	}
}

// TestMetricsOfSeveralEnvironmentsParse reads the metrics of three environments, written as one
// exposition, with the Prometheus text parser: each family appears once, with every
// environment's series.
func TestMetricsOfSeveralEnvironmentsParse(t *testing.T) {
	var envs []Environment
	for _, name := range []string{"dev", "staging", "prod"} {
		rt := New(Options{})
		setRoutes(t, rt,
			Route{Version: "v1", URL: upstream(t, "v1", nil).URL, Weight: 50},
			Route{Version: "v2", URL: upstream(t, "v2", nil).URL, Weight: 50})
		url, client := front(t, rt)
		for range 4 {
			get(t, client, url, nil)
		}
		envs = append(envs, Environment{Name: name, Router: rt})
	}
	var b strings.Builder
	if err := WriteMetrics(&b, envs); err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(b.String()))
	if err != nil {
		t.Fatalf("metrics of three environments are not valid Prometheus text: %v\n%s", err, b.String())
	}
	for name, want := range map[string]int{
		"sluice_requests_total":           3 * 2 * 2, // 2xx and 5xx of two versions in each
		"sluice_request_duration_seconds": 3 * 2,
		"sluice_in_flight":                3 * 2,
		"sluice_route_weight":             3 * 2,
	} {
		f := families[name]
		if f == nil {
			t.Errorf("no family %s", name)
			continue
		}
		if got := len(f.GetMetric()); got != want {
			t.Errorf("%s has %d series, want %d", name, got, want)
		}
		seen := map[string]bool{}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "environment" {
					seen[l.GetValue()] = true
				}
			}
		}
		if len(seen) != 3 {
			t.Errorf("%s has series of environments %v, want dev, staging and prod", name, seen)
		}
	}
	// The method on one router writes a valid exposition too.
	b.Reset()
	envs[0].Router.WriteMetrics(&b, "dev")
	if _, err := parser.TextToMetricFamilies(strings.NewReader(b.String())); err != nil {
		t.Errorf("one router's metrics: %v", err)
	}
}
