package router

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConformanceAgainstNginx sends the client-side cases of the conformance table to nginx,
// proxying to a version as bench/router.sh configures it, and to the fast path: whatever nginx
// refuses, Sluice must refuse too. (Sluice refuses more: see docs/router.md.) It needs nginx
// (Debian's package: apt-get install nginx) and skips without it.
func TestConformanceAgainstNginx(t *testing.T) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin = "/usr/sbin/nginx"
		if _, err := os.Stat(bin); err != nil {
			t.Skip("nginx is not installed (apt-get install nginx): no reference to compare with")
		}
	}
	v := startScriptVersion(t, nil)
	nginx := startNginx(t, bin, strings.TrimPrefix(v.URL(), "http://"))
	rt := New(Options{})
	setRoutes(t, rt, Route{Version: "v1", URL: v.URL(), Weight: 100})
	sluice := serveFront(t, rt, conformanceFronts[0])

	for _, tc := range conformanceCases(t) {
		if tc.run != nil || tc.version != nil || tc.options.ClientTimeout != 0 || tc.options.UpstreamTimeout != 0 || tc.options.HeaderTimeout != 0 {
			continue // steps and faulty versions: nginx's answers to those are not comparable
		}
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			theirs, raw := exchange(t, nginx, tc.send, tc.head)
			ours, _ := exchange(t, sluice, tc.send, tc.head)
			if len(theirs) == 0 {
				t.Logf("nginx closed without an answer: %q", limit(raw))
				if len(ours) > 0 && ours[0].status < 400 {
					t.Errorf("nginx drops the connection, Sluice answers %v", statuses(ours))
				}
				return
			}
			t.Logf("nginx %v, sluice %v", statuses(theirs), statuses(ours))
			if theirs[0].status >= 400 && (len(ours) == 0 || ours[0].status < 400) {
				t.Errorf("nginx refuses with %d, Sluice answers %v", theirs[0].status, statuses(ours))
			}
		})
	}
}

// startNginx runs nginx in the foreground, as one process, proxying to upstream, and returns
// its address once it accepts connections.
func startNginx(t *testing.T, bin, upstream string) string {
	t.Helper()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	conf := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	upstream version { server %[2]s; keepalive 16; }
	server {
		listen %[3]s;
		location / {
			proxy_pass http://version;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host $host;
		}
	}
}
`, dir, upstream, addr)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", path, "-e", filepath.Join(dir, "error.log"), "-p", dir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Skipf("nginx does not start here: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx did not listen on %s: %s", addr, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
