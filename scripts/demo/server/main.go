// Command server is the HTTP server `make demo` runs in the orders
// namespace: it answers every request with 200 and appends its request line
// to a log file, so the demo can show which requests reached the server.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"sync"
	"time"
)

func main() {
	addr := flag.String("addr", ":8080", "listen address")
	logPath := flag.String("log", "", "file to append received request lines to")
	flag.Parse()
	var mu sync.Mutex
	var out *os.File
	if *logPath != "" {
		f, err := os.OpenFile(*logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			log.Fatal(err)
		}
		out = f
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if out != nil {
			mu.Lock()
			fmt.Fprintf(out, "%s %s %s from %s\n", r.Method, r.RequestURI, r.Proto, r.RemoteAddr)
			mu.Unlock()
		}
		fmt.Fprintf(w, "ok %s %s\n", r.Method, r.RequestURI)
	})
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
