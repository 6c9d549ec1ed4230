package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The server side: nginx serving one small static file on srvAddr:80, and
// two HAProxy instances in the same namespace in front of it (the sidecar
// position of an L7 proxy), one with the 1,000-rule set as ACLs, one with the
// 10-rule set.
const (
	nginxPort  = 80
	proxyPort  = 8081 // HAProxy with 1,000 rules
	proxy10Prt = 8082 // HAProxy with 10 rules
)

// indexBody is nginx's response body: a small static page.
const indexBody = "<!doctype html><title>ok</title><p>ok</p>\n"

func startNginx(work string) (*daemon, error) {
	www := filepath.Join(work, "www")
	if err := os.MkdirAll(www, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(www, "index.html"), []byte(indexBody), 0o644); err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`worker_processes 1;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/nginx-error.log;
events { worker_connections 8192; }
http {
	access_log off;
	keepalive_requests 100000000;
	keepalive_timeout 120s;
	client_body_temp_path %[1]s/nginx-tmp;
	server {
		listen %[2]s:%[3]d reuseport backlog=4096;
		location / { root %[4]s; try_files /index.html =404; }
	}
}
`, work, srvAddr, nginxPort, www)
	p := filepath.Join(work, "nginx.conf")
	if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	d, err := startDaemon("nginx", filepath.Join(work, "nginx.log"), inNS(srvNS, "nginx", "-c", p, "-e", filepath.Join(work, "nginx-error.log")))
	if err != nil {
		return nil, err
	}
	return d, waitListen(d, srvAddr, nginxPort)
}

// haproxyConfig translates rules into HAProxy ACLs with the same meaning:
// allow a request from the client's address with the rule's method and
// path, deny (403) everything else. HAProxy evaluates them in order.
func haproxyConfig(port int, rules []rule) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
	nbthread 1
	maxconn 4000
defaults
	mode http
	timeout connect 5s
	timeout client 60s
	timeout server 60s
	option http-keep-alive
frontend fe
	bind %s:%d
`, srvAddr, port)
	for _, r := range rules {
		match := "path_beg"
		if r.exact {
			match = "path"
		}
		fmt.Fprintf(&b, "\thttp-request allow if { src %s } { method %s } { %s %s }\n", cliAddr, r.method, match, r.path)
	}
	fmt.Fprintf(&b, "\thttp-request deny\n\tdefault_backend be\nbackend be\n\tserver nginx %s:%d\n", srvAddr, nginxPort)
	return b.String()
}

func startHAProxy(work string, port int, rules []rule) (*daemon, error) {
	p := filepath.Join(work, fmt.Sprintf("haproxy-%d.cfg", port))
	if err := os.WriteFile(p, []byte(haproxyConfig(port, rules)), 0o644); err != nil {
		return nil, err
	}
	if err := run("haproxy", "-c", "-q", "-f", p); err != nil {
		return nil, fmt.Errorf("checking haproxy config: %w", err)
	}
	d, err := startDaemon("haproxy", filepath.Join(work, fmt.Sprintf("haproxy-%d.log", port)), inNS(srvNS, "haproxy", "-db", "-f", p))
	if err != nil {
		return nil, err
	}
	return d, waitListen(d, srvAddr, port)
}

// waitListen waits until something accepts connections at addr:port (from
// the calling namespace, through the bridge).
func waitListen(d *daemon, addr string, port int) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if !d.alive() {
			b, _ := os.ReadFile(d.log.Name())
			return fmt.Errorf("%s exited: %s", d.name, strings.TrimSpace(string(b)))
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("%s:%d", addr, port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s does not listen on %s:%d", d.name, addr, port)
}
