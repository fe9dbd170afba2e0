package router_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/rollout"
	"github.com/sluicehq/sluice/router"
)

// Example shifts 10% of the traffic to a new version and judges an alarm over its metrics.
func Example() {
	oldVersion := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "old") }))
	defer oldVersion.Close()
	newVersion := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "broken", http.StatusInternalServerError)
	}))
	defer newVersion.Close()

	rt := router.New(router.Options{})
	defer rt.Close()
	if err := rt.SetRoutes([]router.Route{
		{Version: "a1b2c3-1", URL: oldVersion.URL, Weight: 90},
		{Version: "d4e5f6-2", URL: newVersion.URL, Weight: 10},
	}); err != nil {
		fmt.Println(err)
		return
	}
	env := httptest.NewServer(rt) // in sluice, an http.Server on the environment's listen address
	defer env.Close()

	for range 100 {
		resp, err := http.Get(env.URL)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
	}
	alarm := sluice.Alarm{Name: "api-errors", Metric: sluice.MetricErrorRate, Threshold: 0.01, Window: 10 * time.Second}
	v := rollout.Evaluate(alarm, rt.Window("d4e5f6-2", alarm.Window))
	fmt.Println(v.Breached, v.Reason)
	// Output: true error_rate 1 > 0.01 over 10s (10 of 10 requests)
}
