package router

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkRouter sends parallel requests through the router to a loopback upstream; compare
// with BenchmarkDirect for the router's overhead.
func BenchmarkRouter(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer up.Close()
	rt := New(Options{})
	if err := rt.SetRoutes([]Route{{Version: "a", URL: up.URL, Weight: 90}, {Version: "b", URL: up.URL, Weight: 10}}); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(rt)
	defer srv.Close()
	benchmarkGet(b, srv.URL)
}

// BenchmarkDirect is BenchmarkRouter without the router.
func BenchmarkDirect(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer up.Close()
	benchmarkGet(b, up.URL)
}

// BenchmarkServeHTTP measures the router's own handler, without the client's side of HTTP.
func BenchmarkServeHTTP(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer up.Close()
	rt := New(Options{})
	if err := rt.SetRoutes([]Route{{Version: "a", URL: up.URL, Weight: 100}}); err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "http://app.example/", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}

func benchmarkGet(b *testing.B, url string) {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	defer client.CloseIdleConnections()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
