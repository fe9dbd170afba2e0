package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestRun(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		w.Header().Set("X-Version", "abc1234")
		switch r.URL.Path {
		case "/version":
			fmt.Fprintln(w, "abc1234")
		case "/flaky": // every third answer fails, as a version shifting traffic with a bug would
			if n%3 == 0 {
				http.Error(w, "boom", http.StatusInternalServerError)
				return
			}
			fmt.Fprintln(w, `{"message":"hello from prod"}`)
		default:
			fmt.Fprintln(w, `{"message":"hello from dev"}`)
		}
	}))
	t.Cleanup(srv.Close)
	closed := closedAddress(t)

	tests := []struct {
		name      string
		args      []string
		wantCode  int
		wantCalls int64
		wantOut   []string
	}{
		{name: "one request passes", args: []string{srv.URL + "/"}, wantCode: 0, wantCalls: 1, wantOut: []string{"1 of 1 passed"}},
		{
			name: "exact body", args: []string{"-body", "abc1234", srv.URL + "/version"},
			wantCode: 0, wantCalls: 1, wantOut: []string{`body "abc1234"`},
		},
		{
			name: "wrong body", args: []string{"-body", "0000000", srv.URL + "/version"},
			wantCode: 1, wantCalls: 1, wantOut: []string{"0 of 1 passed", `body "abc1234", want "0000000"`},
		},
		{
			name: "contains", args: []string{"-n", "4", "-contains", "hello from", srv.URL + "/"},
			wantCode: 0, wantCalls: 4, wantOut: []string{"4 of 4 passed"},
		},
		{
			name: "does not contain", args: []string{"-contains", "hello from prod", srv.URL + "/"},
			wantCode: 1, wantCalls: 1, wantOut: []string{"does not contain"},
		},
		{
			name: "header matches", args: []string{"-header", "X-Version=abc1234", srv.URL + "/healthz"},
			wantCode: 0, wantCalls: 1,
		},
		{
			name: "header differs", args: []string{"-header", "X-Version=fffffff", srv.URL + "/healthz"},
			wantCode: 1, wantCalls: 1, wantOut: []string{`header X-Version: "abc1234", want "fffffff"`},
		},
		{
			name: "some requests fail", args: []string{"-n", "6", srv.URL + "/flaky"},
			wantCode: 1, wantCalls: 6, wantOut: []string{"4 of 6 passed", "2× status 500"},
		},
		{
			name: "scheme is optional", args: []string{strings.TrimPrefix(srv.URL, "http://") + "/"},
			wantCode: 0, wantCalls: 1,
		},
		{name: "nothing listening", args: []string{"-n", "2", closed}, wantCode: 1, wantOut: []string{"0 of 2 passed", "2× "}},
		{name: "no URL", args: nil, wantCode: 2},
		{name: "two URLs", args: []string{srv.URL, srv.URL}, wantCode: 2},
		{name: "zero count", args: []string{"-n", "0", srv.URL}, wantCode: 2},
		{name: "bad header flag", args: []string{"-header", "X-Version", srv.URL}, wantCode: 2},
		{name: "unknown flag", args: []string{"-bogus", srv.URL}, wantCode: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls.Store(0)
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("run(%q) = %d, want %d; stdout %q stderr %q", tt.args, code, tt.wantCode, stdout.String(), stderr.String())
			}
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("server saw %d requests, want %d", got, tt.wantCalls)
			}
			for _, want := range tt.wantOut {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout = %q, want it to contain %q", stdout.String(), want)
				}
			}
		})
	}
}

// closedAddress returns a loopback URL on which nothing listens any more.
func closedAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/"
}
