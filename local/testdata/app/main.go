// Command app is the service the local provider's tests deploy: it answers its VERSION on /,
// 200 on /healthz, never on /hang, and fails on purpose when told to.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if os.Getenv("EXIT") == "1" {
		fmt.Fprintln(os.Stderr, "starting")
		fmt.Fprintln(os.Stderr, "cannot open the database: DATABASE_URL is not set")
		os.Exit(3) // a version that dies before it is ever healthy
	}
	version, fail := os.Getenv("VERSION"), os.Getenv("FAIL") == "1"
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if fail {
			http.Error(w, version+" is broken", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, version)
	})
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // a request this version never answers
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if os.Getenv("UNHEALTHY") == "1" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "ok")
	})
	srv := &http.Server{Addr: "127.0.0.1:" + os.Getenv("PORT"), Handler: mux}
	go func() {
		// Finish in-flight requests on SIGTERM, as a well-behaved service does.
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		<-sig
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
