package source

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
)

func TestHTTPMonitor(t *testing.T) {
	good := `apiVersion: axon.dev/v1alpha1
kind: HTTPMonitor
metadata: {name: orders, namespace: shop}
spec:
  podSelector: {matchLabels: {app: orders}}
  ports: [{port: 8080}]
  routes: [/api/orders/*, /api/orders/*/items, /healthz]
  maxRoutes: 50
`
	set, probs, err := LoadFS(fstest.MapFS{"m.yaml": {Data: []byte(good)}})
	if err != nil || (len(probs.Errors()) > 0) {
		t.Fatalf("good monitor: %v %v", err, probs)
	}
	if len(set.Monitors) != 1 || set.Monitors[0].MaxRoutesOrDefault() != 50 || len(set.Monitors[0].Spec.Routes) != 3 {
		t.Fatalf("monitors: %+v", set.Monitors)
	}
	bad := strings.Replace(good, "/api/orders/*/items", "/api/orders*", 1)
	set, probs, err = LoadFS(fstest.MapFS{"m.yaml": {Data: []byte(bad)}})
	if err != nil {
		t.Fatal(err)
	}
	if !(len(probs.Errors()) > 0) || len(set.Monitors) != 0 || !strings.Contains(fmt.Sprint(probs), "m.yaml:7") {
		t.Fatalf("bad route: want an error at m.yaml:7, got %v (monitors %d)", probs, len(set.Monitors))
	}
	typo := strings.Replace(good, "maxRoutes", "maxRoute", 1)
	if _, probs, _ = LoadFS(fstest.MapFS{"m.yaml": {Data: []byte(typo)}}); !(len(probs.Errors()) > 0) || !strings.Contains(fmt.Sprint(probs), "m.yaml:8") {
		t.Fatalf("unknown field: want an error at m.yaml:8, got %v", probs)
	}
}
