package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

func TestWeightedSplit(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
	}{
		{"canary 10", []int{90, 10}},
		{"half and half", []int{50, 50}},
		{"one percent", []int{99, 1}},
		{"three versions", []int{20, 30, 50}},
		{"weights not summing to 100", []int{1, 3}},
		{"one version with weight 0", []int{0, 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := New(Options{})
			var routes []Route
			for i, w := range tt.weights {
				name := fmt.Sprintf("v%d", i)
				routes = append(routes, Route{Version: name, URL: upstream(t, name, nil).URL, Weight: w})
			}
			setRoutes(t, rt, routes...)
			url, client := front(t, rt)

			const n = 2000
			counts := map[string]int{}
			for range n {
				status, version, _ := get(t, client, url, nil)
				if status != http.StatusOK {
					t.Fatalf("status %d", status)
				}
				counts[version]++
			}
			total := 0
			for _, w := range tt.weights {
				total += w
			}
			for i, w := range tt.weights {
				want := 100 * float64(w) / float64(total)
				got := 100 * float64(counts[fmt.Sprintf("v%d", i)]) / n
				if math.Abs(got-want) > 2 {
					t.Errorf("v%d got %.2f%% of requests, want %.2f%% ± 2", i, got, want)
				}
			}
		})
	}
}

// TestWeightedSplitConcurrent checks the real picker under concurrent clients: the share holds
// however requests interleave, since each pick takes its own slot of the cycle.
func TestWeightedSplitConcurrent(t *testing.T) {
	rt := New(Options{})
	setRoutes(t, rt,
		Route{Version: "old", URL: upstream(t, "old", nil).URL, Weight: 90},
		Route{Version: "new", URL: upstream(t, "new", nil).URL, Weight: 10})
	url, client := front(t, rt)

	var newCount, total atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 250 {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				total.Add(1)
				if resp.Header.Get("X-Version") == "new" {
					newCount.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if share := 100 * float64(newCount.Load()) / float64(total.Load()); total.Load() != 2000 || math.Abs(share-10) > 2 {
		t.Errorf("new got %.2f%% of %d requests, want 10%% ± 2 of 2000", share, total.Load())
	}
}

func TestPickCycleIsExactAndInterleaved(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		// maxRun is the longest allowed run of consecutive picks of the heaviest version.
		maxRun int
	}{
		{"90/10", []int{90, 10}, 18},
		{"50/50", []int{50, 50}, 3},
		{"1/2/3/4", []int{1, 2, 3, 4}, 6},
		{"single", []int{7}, 21},
		{"large total", []int{9999, 1}, 9999},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var backends []*backend
			total := 0
			for i, w := range tt.weights {
				backends = append(backends, &backend{id: fmt.Sprint(i), weight: w})
				total += w
			}
			tbl := newTable(backends)
			counts := map[string]int{}
			run, longest, last := 0, 0, ""
			for range 3 * total {
				b := tbl.pick()
				counts[b.id]++
				if b.id == last {
					run++
				} else {
					run, last = 1, b.id
				}
				longest = max(longest, run)
			}
			for i, w := range tt.weights {
				if counts[fmt.Sprint(i)] != 3*w {
					t.Errorf("version %d picked %d times in 3 cycles, want %d", i, counts[fmt.Sprint(i)], 3*w)
				}
			}
			if longest > tt.maxRun {
				t.Errorf("longest run of one version = %d, want ≤ %d", longest, tt.maxRun)
			}
		})
	}
	if b := newTable(nil).pick(); b != nil {
		t.Errorf("empty table picked %v", b.id)
	}
}

func TestNoLiveVersionAnswers503(t *testing.T) {
	tests := []struct {
		name   string
		routes []Route
	}{
		{"no routes", nil},
		{"every weight is 0", []Route{{Version: "a", URL: "http://127.0.0.1:1", Weight: 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := New(Options{})
			setRoutes(t, rt, tt.routes...)
			url, client := front(t, rt)
			status, _, body := get(t, client, url, nil)
			if status != http.StatusServiceUnavailable || body != "no version is live in this environment yet" {
				t.Errorf("got %d %q, want 503 with the no-version sentence", status, body)
			}
		})
	}
}

func TestSticky(t *testing.T) {
	rt := New(Options{Sticky: true})
	a := upstream(t, "a", nil)
	b := upstream(t, "b", nil)
	setRoutes(t, rt, Route{Version: "a", URL: a.URL, Weight: 50}, Route{Version: "b", URL: b.URL, Weight: 50})
	url, client := front(t, rt)
	jar, _ := cookiejar.New(nil)
	client.Jar = jar

	_, first, _ := get(t, client, url, nil)
	for i := range 50 {
		if _, v, _ := get(t, client, url, nil); v != first {
			t.Fatalf("request %d went to %s, want the sticky %s", i, v, first)
		}
	}
	other := map[string]string{"a": "b", "b": "a"}[first]

	// Weight 0 means no longer routed: the client moves and its cookie follows.
	setRoutes(t, rt, Route{Version: first, URL: map[string]string{"a": a.URL, "b": b.URL}[first], Weight: 0},
		Route{Version: other, URL: map[string]string{"a": a.URL, "b": b.URL}[other], Weight: 100})
	for i := range 5 {
		if _, v, _ := get(t, client, url, nil); v != other {
			t.Fatalf("request %d after weight 0 went to %s, want %s", i, v, other)
		}
	}
	setRoutes(t, rt, Route{Version: "a", URL: a.URL, Weight: 50}, Route{Version: "b", URL: b.URL, Weight: 50})
	for i := range 20 {
		if _, v, _ := get(t, client, url, nil); v != other {
			t.Fatalf("request %d went to %s, want the new sticky %s", i, v, other)
		}
	}
}

func TestStickyCookieOnlyWhenPicked(t *testing.T) {
	rt := New(Options{Sticky: true})
	setRoutes(t, rt, Route{Version: "a", URL: upstream(t, "a", nil).URL, Weight: 100})
	url, client := front(t, rt)

	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Set-Cookie"); !strings.HasPrefix(got, CookieName+"=a;") {
		t.Errorf("Set-Cookie = %q, want %s=a", got, CookieName)
	}
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.AddCookie(&http.Cookie{Name: CookieName, Value: "a"})
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Set-Cookie"); got != "" {
		t.Errorf("a client already on its version got Set-Cookie %q", got)
	}
}

func TestVersionHeader(t *testing.T) {
	rt := New(Options{})
	setRoutes(t, rt,
		Route{Version: "a", URL: upstream(t, "a", nil).URL, Weight: 100},
		Route{Version: "b", URL: upstream(t, "b", nil).URL, Weight: 1},
		Route{Version: "c", URL: upstream(t, "c", nil).URL, Weight: 0})
	url, client := front(t, rt)
	tests := []struct {
		name, header string
		allowed      []string // versions that may answer
	}{
		{"a routed version is honoured", "b", []string{"b"}},
		{"a weight 0 version is not", "c", []string{"a", "b"}},
		{"an unknown version is not", "zzz", []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 3 {
				status, v, _ := get(t, client, url, http.Header{VersionHeader: {tt.header}})
				if status != http.StatusOK || !slices.Contains(tt.allowed, v) {
					t.Errorf("header %q: %d from %q, want 200 from one of %v", tt.header, status, v, tt.allowed)
				}
			}
		})
	}
}

func TestHandlerFor(t *testing.T) {
	rt := New(Options{})
	setRoutes(t, rt,
		Route{Version: "old", URL: upstream(t, "old", nil).URL, Weight: 100},
		Route{Version: "new", URL: upstream(t, "new", nil).URL, Weight: 0})
	tests := []struct {
		name       string
		id         string
		wantStatus int
		wantBody   string
	}{
		{"weight 0 version", "new", http.StatusOK, "new"},
		{"routed version", "old", http.StatusOK, "old"},
		{"unknown version", "gone", http.StatusServiceUnavailable, "version gone is not routed in this environment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, rt.HandlerFor(tt.id))
			status, _, body := get(t, http.DefaultClient, srv, nil)
			if status != tt.wantStatus || body != tt.wantBody {
				t.Errorf("got %d %q, want %d %q", status, body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

func newServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func TestForwardedHeaders(t *testing.T) {
	seen := make(chan http.Header, 1)
	hosts := make(chan string, 1)
	up := upstream(t, "a", func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		hosts <- r.Host
	})
	rt := New(Options{})
	setRoutes(t, rt, Route{Version: "a", URL: up.URL, Weight: 1})
	url, client := front(t, rt)
	req, _ := http.NewRequest(http.MethodGet, url+"/x?y=1", nil)
	req.Host = "app.example"
	req.Header.Set("X-Forwarded-For", "203.0.113.9") // a client must not be able to spoof it
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h, host := <-seen, <-hosts
	if host != "app.example" || h.Get("X-Forwarded-Host") != "app.example" ||
		h.Get("X-Forwarded-For") != "127.0.0.1" || h.Get("X-Forwarded-Proto") != "http" {
		t.Errorf("host %q, forwarded headers %v", host, h)
	}
}

func TestSetRoutesRejectsBadInput(t *testing.T) {
	ok := "http://127.0.0.1:8080"
	tests := []struct {
		name   string
		routes []Route
	}{
		{"empty version", []Route{{Version: "", URL: ok, Weight: 1}}},
		{"version with a space", []Route{{Version: "a b", URL: ok, Weight: 1}}},
		{"version with a semicolon", []Route{{Version: "a;b", URL: ok, Weight: 1}}},
		{"version too long", []Route{{Version: strings.Repeat("a", 129), URL: ok, Weight: 1}}},
		{"duplicate version", []Route{{Version: "a", URL: ok, Weight: 1}, {Version: "a", URL: ok, Weight: 1}}},
		{"negative weight", []Route{{Version: "a", URL: ok, Weight: -1}}},
		{"not a URL", []Route{{Version: "a", URL: "::", Weight: 1}}},
		{"no scheme", []Route{{Version: "a", URL: "127.0.0.1:8080", Weight: 1}}},
		{"other scheme", []Route{{Version: "a", URL: "ftp://127.0.0.1:8080", Weight: 1}}},
		{"a path", []Route{{Version: "a", URL: ok + "/api", Weight: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := New(Options{})
			setRoutes(t, rt, Route{Version: "keep", URL: ok, Weight: 1})
			err := rt.SetRoutes(tt.routes)
			if sluice.ErrorCode(err) != sluice.EINVALID {
				t.Fatalf("SetRoutes = %v, want an EINVALID error", err)
			}
			if got := rt.Routes(); len(got) != 1 || got[0].Version != "keep" {
				t.Errorf("a rejected SetRoutes changed the routes to %v", got)
			}
		})
	}
}

func TestDrainWaitsForInFlight(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	slow := upstream(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "slow")
	})
	next := upstream(t, "next", nil)
	rt := New(Options{})
	setRoutes(t, rt, Route{Version: "slow", URL: slow.URL, Weight: 100})
	url, client := front(t, rt)

	result := make(chan string, 1)
	go func() {
		resp, err := client.Get(url)
		if err != nil {
			result <- err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		result <- fmt.Sprintf("%d %s", resp.StatusCode, body)
	}()
	<-entered
	setRoutes(t, rt, Route{Version: "next", URL: next.URL, Weight: 100})
	if got := rt.InFlight("slow"); got != 1 {
		t.Fatalf("InFlight(slow) = %d, want 1", got)
	}

	// A deadline that ends while the request is held: Drain must say so.
	short, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := rt.Drain(short, "slow"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain with a short deadline = %v, want DeadlineExceeded", err)
	}

	drained := make(chan error, 1)
	go func() { drained <- rt.Drain(context.Background(), "slow") }()
	select {
	case err := <-drained:
		t.Fatalf("Drain returned %v while a request was still in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	if _, v, _ := get(t, client, url, nil); v != "next" {
		t.Errorf("a new request went to %s during the drain, want next", v)
	}
	close(release)
	if err := <-drained; err != nil {
		t.Fatalf("Drain = %v", err)
	}
	if got := <-result; got != "200 slow" {
		t.Errorf("the in-flight request got %q, want 200 slow", got)
	}
	if err := rt.Drain(context.Background(), "never-routed"); err != nil {
		t.Errorf("Drain of an unknown version = %v", err)
	}
}

func TestRetryWhenAVersionIsGone(t *testing.T) {
	var logs strings.Builder
	var logMu sync.Mutex
	live := upstream(t, "live", nil)
	gone := upstream(t, "gone", nil)
	rt := New(Options{ErrorLog: log.New(lockedWriter{mu: &logMu, w: &logs}, "", 0)})
	setRoutes(t, rt, Route{Version: "gone", URL: gone.URL, Weight: 50}, Route{Version: "live", URL: live.URL, Weight: 50})
	url, client := front(t, rt)
	for range 10 { // warm connections to both, so the retry also covers a dead idle connection
		get(t, client, url, nil)
	}
	gone.Close()
	before := rt.Window("gone", time.Minute).Requests

	for i := range 100 {
		status, v, _ := get(t, client, url, nil)
		if status != http.StatusOK || v != "live" {
			t.Fatalf("request %d: %d from %q, want 200 from live", i, status, v)
		}
	}
	// A body that was never sent survives the retry.
	for i := range 20 {
		resp, err := client.Post(url, "text/plain", strings.NewReader("payload"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %d: %d, want 200", i, resp.StatusCode)
		}
	}
	if after := rt.Window("gone", time.Minute).Requests; after != before {
		t.Errorf("the gone version was charged %d responses after it closed", after-before)
	}
	if got := rt.InFlight("gone") + rt.InFlight("live"); got != 0 {
		t.Errorf("in flight after all requests ended = %d", got)
	}
	logMu.Lock()
	if !strings.Contains(logs.String(), "version gone refused the connection, retrying on live") {
		t.Errorf("log = %q, want the retry explained", logs.String())
	}
	logMu.Unlock()

	t.Run("pinned handler does not move", func(t *testing.T) {
		status, _, body := get(t, http.DefaultClient, newServer(t, rt.HandlerFor("gone")), nil)
		if status != http.StatusBadGateway || body != "bad gateway: version gone did not answer" {
			t.Errorf("got %d %q, want 502", status, body)
		}
	})
	t.Run("no other version", func(t *testing.T) {
		setRoutes(t, rt, Route{Version: "gone", URL: gone.URL, Weight: 100})
		before := rt.Window("gone", time.Minute).Errors
		status, _, _ := get(t, client, url, nil)
		if status != http.StatusBadGateway {
			t.Errorf("got %d, want 502", status)
		}
		if errs := rt.Window("gone", time.Minute).Errors - before; errs != 1 {
			t.Errorf("gone was charged %d errors, want the one 502", errs)
		}
	})
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestKeepAliveSurvivesSetRoutes(t *testing.T) {
	rt := New(Options{})
	a := upstream(t, "a", nil)
	b := upstream(t, "b", nil)
	var conns atomic.Int64
	srv := newServerWithConnState(t, rt, func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	})
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	for i := range 40 {
		if i%2 == 0 {
			setRoutes(t, rt, Route{Version: "a", URL: a.URL, Weight: 100})
		} else {
			setRoutes(t, rt, Route{Version: "b", URL: b.URL, Weight: 100})
		}
		want := map[bool]string{true: "a", false: "b"}[i%2 == 0]
		if status, v, _ := get(t, client, srv, nil); status != http.StatusOK || v != want {
			t.Fatalf("request %d: %d from %s, want 200 from %s", i, status, v, want)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("the client opened %d connections, want 1 kept alive across SetRoutes", n)
	}
}

func newServerWithConnState(t *testing.T, h http.Handler, state func(net.Conn, http.ConnState)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ConnState: state}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// TestSetRoutesUnderLoad changes the weights every millisecond while clients send requests:
// no request may fail, and the race detector watches the table swap.
func TestSetRoutesUnderLoad(t *testing.T) {
	rt := New(Options{Sticky: true})
	urls := []string{upstream(t, "a", nil).URL, upstream(t, "b", nil).URL, upstream(t, "c", nil).URL}
	url, client := front(t, rt)
	setRoutes(t, rt, Route{Version: "a", URL: urls[0], Weight: 100})

	done := make(chan struct{})
	var changer sync.WaitGroup
	changer.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for i := 0; i < 20000; i++ { // bounded, and stopped as soon as the clients finish
			select {
			case <-done:
				return
			case <-tick.C:
			}
			p := i % 101
			routes := []Route{{Version: "a", URL: urls[0], Weight: 100 - p}, {Version: "b", URL: urls[1], Weight: p}}
			if i%3 == 0 {
				routes = append(routes, Route{Version: "c", URL: urls[2], Weight: 5})
			}
			if err := rt.SetRoutes(routes); err != nil {
				t.Error(err)
				return
			}
		}
	})
	var failures atomic.Int64
	var clients sync.WaitGroup
	for range 4 {
		clients.Go(func() {
			for range 300 {
				resp, err := client.Get(url)
				if err != nil {
					failures.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failures.Add(1)
				}
			}
		})
	}
	clients.Wait()
	close(done)
	changer.Wait()
	if n := failures.Load(); n != 0 {
		t.Errorf("%d of 1200 requests failed while the weights changed", n)
	}
}

func TestOnResult(t *testing.T) {
	type result struct {
		version string
		status  int
	}
	results := make(chan result, 10)
	rt := New(Options{OnResult: func(version string, status int, d time.Duration) {
		results <- result{version, status}
	}})
	setRoutes(t, rt, Route{Version: "a", URL: upstream(t, "a", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}).URL, Weight: 1})
	url, client := front(t, rt)
	get(t, client, url, nil)
	if got := <-results; got != (result{"a", 500}) {
		t.Errorf("OnResult got %+v, want a 500", got)
	}
}

// TestSetSticky: stickiness can be turned on and off on a router that is already serving, as a
// deployment with a different `sticky` setting does.
func TestSetSticky(t *testing.T) {
	rt := New(Options{})
	setRoutes(t, rt, Route{Version: "a", URL: upstream(t, "a", nil).URL, Weight: 100})
	url, client := front(t, rt)
	cookie := func() string {
		t.Helper()
		resp, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("Set-Cookie")
	}
	if got := cookie(); got != "" {
		t.Fatalf("not sticky yet, but Set-Cookie = %q", got)
	}
	rt.SetSticky(true)
	if got := cookie(); !strings.HasPrefix(got, CookieName+"=a;") {
		t.Fatalf("after SetSticky(true): Set-Cookie = %q, want %s=a", got, CookieName)
	}
	rt.SetSticky(false)
	if got := cookie(); got != "" {
		t.Fatalf("after SetSticky(false): Set-Cookie = %q", got)
	}
}

// TestStickyCookieNamesTheVersionThatAnswered: when the picked version refuses the connection
// and the request moves to another, the cookie keeps the client on the one that answered.
func TestStickyCookieNamesTheVersionThatAnswered(t *testing.T) {
	gone := upstream(t, "a", nil)
	goneURL := gone.URL
	gone.Close() // its port now refuses connections
	rt := New(Options{Sticky: true})
	setRoutes(t, rt, Route{Version: "a", URL: goneURL, Weight: 50}, Route{Version: "b", URL: upstream(t, "b", nil).URL, Weight: 50})
	url, client := front(t, rt)
	for i := range 10 { // half the picks land on a, and are retried on b
		resp, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Version") != "b" {
			t.Fatalf("request %d: %s from %q, want 200 from b", i, resp.Status, resp.Header.Get("X-Version"))
		}
		if got := resp.Header.Get("Set-Cookie"); !strings.HasPrefix(got, CookieName+"=b;") {
			t.Fatalf("request %d: Set-Cookie = %q, want %s=b (the version that answered)", i, got, CookieName)
		}
	}
}

// TestRemovedVersionInFlightIsNotForgotten: however many versions are removed after it, a
// version still answering keeps its in-flight count, so Drain waits for it.
func TestRemovedVersionInFlightIsNotForgotten(t *testing.T) {
	release := make(chan struct{})
	slow := upstream(t, "slow", func(w http.ResponseWriter, r *http.Request) { <-release })
	rt := New(Options{})
	setRoutes(t, rt, Route{Version: "slow", URL: slow.URL, Weight: 100})
	url, client := front(t, rt)
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(free) // runs before the servers close, even when the test fails
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for rt.InFlight("slow") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the request never reached the slow version")
		}
		time.Sleep(5 * time.Millisecond)
	}
	other := upstream(t, "other", nil)
	for i := range retainRemoved + 3 { // remove slow, then many more after it
		setRoutes(t, rt, Route{Version: fmt.Sprintf("v%d", i), URL: other.URL, Weight: 100})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := rt.Drain(ctx, "slow"); err == nil {
		t.Fatal("Drain returned while the slow version still answered a request")
	}
	free()
	<-done
	if err := rt.Drain(context.Background(), "slow"); err != nil {
		t.Fatalf("Drain after the request finished: %v", err)
	}
}
