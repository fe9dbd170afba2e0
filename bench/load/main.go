// Command load sends GET requests to one URL from a few keep-alive clients until it is
// interrupted, and then prints what the clients saw as JSON: answers by status, transport
// errors, the first and last failed request, and failures per 100 ms bucket. bench/rollback.sh
// uses it to measure what users see while a deployment rolls back.
//
//	go run ./bench/load -url http://127.0.0.1:8080/ -c 8 > load.json   # Ctrl-C or SIGTERM ends it
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// report is the JSON printed at the end.
type report struct {
	Requests        int64          `json:"requests"`
	ByStatus        map[int]int64  `json:"by_status"`
	TransportErrors int64          `json:"transport_errors"`
	Failures        int64          `json:"failures"` // 5xx answers and transport errors
	FirstFailure    time.Time      `json:"first_failure,omitzero"`
	LastFailure     time.Time      `json:"last_failure,omitzero"`
	FailureWindowMS float64        `json:"failure_window_ms"`
	Buckets         map[string]int `json:"failures_per_100ms,omitempty"` // bucket start (UTC, 15:04:05.000) → failures
	LastError       string         `json:"last_error,omitempty"`
}

func main() {
	url := flag.String("url", "", "the `URL` to GET")
	conc := flag.Int("c", 8, "concurrent clients")
	pause := flag.Duration("pause", 2*time.Millisecond, "pause between one client's requests")
	flag.Parse()
	if *url == "" {
		fmt.Fprintln(os.Stderr, "load: -url is required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var mu sync.Mutex
	rep := report{ByStatus: map[int]int64{}, Buckets: map[string]int{}}
	fail := func(at time.Time, err error) {
		rep.Failures++
		if rep.FirstFailure.IsZero() {
			rep.FirstFailure = at
		}
		rep.LastFailure = at
		rep.Buckets[at.Truncate(100*time.Millisecond).UTC().Format("15:04:05.000")]++
		if err != nil {
			rep.LastError = err.Error()
		}
	}
	var wg sync.WaitGroup
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			for ctx.Err() == nil {
				resp, err := c.Get(*url)
				now := time.Now()
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					mu.Lock()
					rep.Requests++
					rep.TransportErrors++
					fail(now, err)
					mu.Unlock()
					time.Sleep(10 * time.Millisecond)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				rep.Requests++
				rep.ByStatus[resp.StatusCode]++
				if resp.StatusCode >= 500 {
					fail(now, nil)
				}
				mu.Unlock()
				time.Sleep(*pause)
			}
		}()
	}
	wg.Wait()
	if !rep.FirstFailure.IsZero() {
		rep.FailureWindowMS = float64(rep.LastFailure.Sub(rep.FirstFailure).Microseconds()) / 1000
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(rep)
}
