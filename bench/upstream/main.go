// Command upstream is the benchmark's stand-in for a version: it answers every request with
// 200 "ok".
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:39081", "address to listen on")
	flag.Parse()
	ok := func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }
	if err := http.ListenAndServe(*addr, http.HandlerFunc(ok)); err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		os.Exit(1)
	}
}
