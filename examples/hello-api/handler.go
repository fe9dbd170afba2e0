package main

import (
	"encoding/json"
	"net/http"
	"sync/atomic"
)

// handler serves the API. Its ready flag is false until serve has started and again once it
// begins to stop.
type handler struct {
	cfg   config
	ready atomic.Bool
	mux   *http.ServeMux
}

// greeting is the body of GET /.
type greeting struct {
	Message     string `json:"message"`
	Version     string `json:"version"`
	Environment string `json:"environment"`
}

func newHandler(cfg config) *handler {
	h := &handler{cfg: cfg, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /{$}", h.hello)
	h.mux.HandleFunc("GET /version", h.version)
	h.mux.HandleFunc("GET /healthz", h.healthz)
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Set on every answer, errors included, so that whoever watches a traffic shift can count
	// which version answered what.
	w.Header().Set("X-Version", h.cfg.revision)
	h.mux.ServeHTTP(w, r)
}

// broken reports whether the deliberate prod failure applies to this process.
func (h *handler) broken() bool {
	return h.cfg.breakProd && h.cfg.environment == "prod"
}

func (h *handler) hello(w http.ResponseWriter, r *http.Request) {
	if h.broken() {
		http.Error(w, "deliberately broken in prod", http.StatusInternalServerError)
		return
	}
	body, err := json.Marshal(greeting{
		Message:     "hello from " + h.cfg.environment,
		Version:     h.cfg.revision,
		Environment: h.cfg.environment,
	})
	if err != nil {
		http.Error(w, "encode greeting: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(body, '\n'))
}

func (h *handler) version(w http.ResponseWriter, r *http.Request) {
	if h.broken() {
		http.Error(w, "deliberately broken in prod", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte(h.cfg.revision + "\n"))
}

func (h *handler) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !h.ready.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("not ready\n"))
		return
	}
	w.Write([]byte("ok\n"))
}
