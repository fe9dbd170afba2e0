// Command routerbench runs the Sluice router in front of one upstream, as the local deploy
// provider would, for bench/router.sh to measure. With -bare it serves a plain
// httputil.ReverseProxy instead, with the same transport settings, to tell the router's own cost
// from net/http's. With -fast it serves the router with Router.ServeFast, the HTTP/1.1 fast path
// that bypasses net/http. With -cpuprofile it writes a CPU profile when interrupted (SIGINT or
// SIGTERM).
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/router"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:39082", "address to listen on")
	upstream := flag.String("upstream", "http://127.0.0.1:39081", "the version's origin")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file on exit")
	bare := flag.Bool("bare", false, "serve a plain httputil.ReverseProxy instead of the router")
	fast := flag.Bool("fast", false, "serve the router with its fast path, ServeFast, instead of net/http")
	flag.Parse()

	rt := router.New(router.Options{})
	if err := rt.SetRoutes([]router.Route{{Version: "bench-1", URL: *upstream, Weight: 100}}); err != nil {
		fmt.Fprintln(os.Stderr, "routerbench:", err)
		os.Exit(2)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "routerbench:", err)
			os.Exit(2)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "routerbench:", err)
			os.Exit(2)
		}
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
		go func() {
			<-stop
			pprof.StopCPUProfile()
			f.Close()
			os.Exit(0)
		}()
	}
	if *fast {
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "routerbench:", err)
			os.Exit(1)
		}
		if err := rt.ServeFast(ln); err != nil {
			fmt.Fprintln(os.Stderr, "routerbench:", err)
			os.Exit(1)
		}
		return
	}
	var handler http.Handler = rt
	if *bare {
		u, err := url.Parse(*upstream)
		if err != nil {
			fmt.Fprintln(os.Stderr, "routerbench:", err)
			os.Exit(2)
		}
		handler = &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u); pr.Out.Host = pr.In.Host; pr.SetXForwarded() },
			Transport: &http.Transport{
				Proxy: nil, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second,
				ForceAttemptHTTP2: false, DisableCompression: true,
			},
			ErrorLog: log.New(io.Discard, "", 0), // wrk hangs up mid-request at the end of a run
		}
	}
	srv := &http.Server{Addr: *addr, Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "routerbench:", err)
		os.Exit(1)
	}
}
