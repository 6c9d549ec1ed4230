package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/axon-dev/axon/test/agentproc"
	"github.com/axon-dev/axon/test/netns"
)

// node is one "node": a network namespace with a bridge for its pods, an
// API server proxy on its loopback, and (once started) its agent.
type node struct {
	name   string // the Node object's name and the pods' spec.nodeName
	ns     string // network namespace
	subnet netip.Prefix
	bridge string
	host   *netns.Host // the node namespace itself, for listening in it
	id     string
	pods   int
	agent  *agentproc.Proc
	pinDir string
	kubecf string // the agent's kubeconfig
	proxy  *apiProxy
}

func randomID() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func ipCmd(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func mustIP(t *testing.T, args ...string) {
	t.Helper()
	if err := ipCmd(args...); err != nil {
		t.Fatal(err)
	}
}

// newNode creates node name's namespace with a bridge at the first address
// of subnet, forwarding on, and its Node object.
func newNode(t *testing.T, name, subnet string) *node {
	t.Helper()
	p := netip.MustParsePrefix(subnet)
	id := randomID()
	n := &node{name: name, ns: "axc-" + id + "-" + name, subnet: p, bridge: "br0", id: id}
	n.host = &netns.Host{Name: name, NS: n.ns}
	t.Cleanup(func() { _ = ipCmd("netns", "del", n.ns) })
	mustIP(t, "netns", "add", n.ns)
	mustIP(t, "-n", n.ns, "link", "set", "lo", "up")
	mustIP(t, "-n", n.ns, "link", "add", n.bridge, "type", "bridge")
	mustIP(t, "-n", n.ns, "addr", "add", fmt.Sprintf("%s/%d", p.Addr().Next(), p.Bits()), "dev", n.bridge)
	mustIP(t, "-n", n.ns, "link", "set", n.bridge, "up")
	if out, err := exec.Command("ip", "netns", "exec", n.ns, "sysctl", "-qw", "net.ipv4.ip_forward=1").CombinedOutput(); err != nil {
		t.Fatalf("forwarding in %s: %v: %s", n.ns, err, out)
	}
	obj := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := k8s.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating Node %s: %v", name, err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), obj) })
	return n
}

// linkNodes joins two nodes with a veth pair (10.97.0.1 and .2/30) and
// routes each one's pod subnet through it.
func linkNodes(t *testing.T, a, b *node) {
	t.Helper()
	mustIP(t, "-n", a.ns, "link", "add", "nodelink", "type", "veth", "peer", "name", "nodelink", "netns", b.ns)
	for i, n := range []*node{a, b} {
		mustIP(t, "-n", n.ns, "addr", "add", fmt.Sprintf("10.97.0.%d/30", i+1), "dev", "nodelink")
		mustIP(t, "-n", n.ns, "link", "set", "nodelink", "up")
	}
	mustIP(t, "-n", a.ns, "route", "add", b.subnet.String(), "via", "10.97.0.2")
	mustIP(t, "-n", b.ns, "route", "add", a.subnet.String(), "via", "10.97.0.1")
}

// pod is a pod's network namespace and its object.
type pod struct {
	*netns.Host
	obj  *corev1.Pod
	node *node
	veth string // host side, in the node's namespace
}

// addNetns creates the pod's network namespace at addr behind a veth on
// node n's bridge (no object yet).
func (n *node) addNetns(t *testing.T, name, addr string) *pod {
	t.Helper()
	a := netip.MustParseAddr(addr)
	if !n.subnet.Contains(a) {
		t.Fatalf("pod %s: %s is not in %s", name, a, n.subnet)
	}
	n.pods++
	p := &pod{node: n, veth: fmt.Sprintf("veth%s%d", n.id, n.pods)}
	p.Host = &netns.Host{Name: name, NS: "axc-" + n.id + "-" + name, Addr: a, Iface: "eth0", Port: p.veth, Subnet: n.subnet}
	t.Cleanup(func() { _ = ipCmd("netns", "del", p.NS) })
	mustIP(t, "netns", "add", p.NS)
	mustIP(t, "-n", n.ns, "link", "add", p.veth, "type", "veth", "peer", "name", "eth0", "netns", p.NS)
	mustIP(t, "-n", n.ns, "link", "set", p.veth, "master", n.bridge)
	mustIP(t, "-n", n.ns, "link", "set", p.veth, "up")
	mustIP(t, "-n", p.NS, "addr", "add", fmt.Sprintf("%s/%d", a, n.subnet.Bits()), "dev", "eth0")
	mustIP(t, "-n", p.NS, "link", "set", "eth0", "up")
	mustIP(t, "-n", p.NS, "link", "set", "lo", "up")
	mustIP(t, "-n", p.NS, "route", "add", "default", "via", n.subnet.Addr().Next().String())
	return p
}

// addPod creates the pod's namespace and its object: spec.nodeName this
// node, status Running with the namespace's address.
func (n *node) addPod(t *testing.T, namespace, name, addr string, labels map[string]string) *pod {
	t.Helper()
	p := n.addNetns(t, name, addr)
	p.obj = createPod(t, namespace, name, n.name, addr, labels)
	return p
}

func createPod(t *testing.T, namespace, name, nodeName, addr string, labels map[string]string) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	obj := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: labels},
		Spec: corev1.PodSpec{NodeName: nodeName, AutomountServiceAccountToken: new(bool),
			Containers: []corev1.Container{{Name: "c", Image: "example.invalid/app"}}},
	}
	if err := k8s.Create(ctx, obj); err != nil {
		t.Fatalf("creating pod %s/%s: %v", namespace, name, err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), obj, deleteNow()) })
	obj.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: addr, PodIPs: []corev1.PodIP{{IP: addr}}}
	if err := k8s.Status().Update(ctx, obj); err != nil {
		t.Fatalf("setting the status of pod %s/%s: %v", namespace, name, err)
	}
	return obj
}

// apiProxy forwards connections made to 127.0.0.1:6443 inside a node's
// namespace to the API server in the test's namespace: the agents reach the
// API server as pods reach it through the kubernetes Service. It can be cut
// (cut) to make the API server unreachable from that node alone.
type apiProxy struct {
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
}

func (n *node) startAPIProxy(t *testing.T) string {
	t.Helper()
	l, err := n.host.Listen("tcp", "127.0.0.1:6443")
	if err != nil {
		t.Fatalf("listening in %s: %v", n.ns, err)
	}
	u, err := url.Parse(restCfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	p := &apiProxy{target: u.Host, conns: map[net.Conn]bool{}}
	n.proxy = p
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); p.cut(true); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { p.pipe(c) })
		}
	})
	return "https://127.0.0.1:6443"
}

// cut makes the API server unreachable through the proxy (every open
// connection closed, new ones refused) or reachable again.
func (p *apiProxy) cut(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
	}
}

func (p *apiProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return false
	}
	for _, c := range cs {
		p.conns[c] = true
	}
	return true
}

func (p *apiProxy) pipe(c net.Conn) {
	defer c.Close()
	s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	defer s.Close()
	if !p.track(c, s) {
		return
	}
	defer func() {
		p.mu.Lock()
		delete(p.conns, c)
		delete(p.conns, s)
		p.mu.Unlock()
	}()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(s, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, s); done <- struct{}{} }()
	<-done
}

// startAgent writes the node's kubeconfig (its own user in agentGroup,
// through the node's API proxy) and starts its agent in the node's
// namespace with its own pin directory, waiting for /readyz. The agent
// lives until owner (the whole test, also when started in a subtest t)
// ends.
func (n *node) startAgent(owner, t *testing.T, args ...string) {
	t.Helper()
	if n.kubecf == "" {
		user, err := env.AddUser(envtest.User{Name: "system:axon-agent:" + n.name, Groups: []string{agentGroup}}, restCfg)
		if err != nil {
			t.Fatal(err)
		}
		data, err := user.KubeConfig()
		if err != nil {
			t.Fatal(err)
		}
		kc, err := clientcmd.Load(data)
		if err != nil {
			t.Fatal(err)
		}
		server := n.startAPIProxy(owner)
		for _, c := range kc.Clusters {
			c.Server = server
		}
		n.kubecf = filepath.Join(owner.TempDir(), n.name+".kubeconfig")
		if err := clientcmd.WriteToFile(*kc, n.kubecf); err != nil {
			t.Fatal(err)
		}
		n.pinDir = agentproc.PinDir(owner, agentBin, "axon-cluster-"+n.name)
	}
	n.agent = agentproc.Launch(owner, agentBin, agentproc.Config{Kubeconfig: n.kubecf, NodeName: n.name, NetNS: n.ns,
		PinDir: n.pinDir, Args: append([]string{"--observe=false", "--heartbeat", heartbeat.String()}, args...)})
	waitFor(t, 30*time.Second, n.name+"'s agent to be ready", func() (bool, string) {
		if n.agent.Exited() {
			t.Fatalf("the agent of %s exited:\n%s", n.name, n.agent.Logs)
		}
		code, body, err := n.agent.Get("/readyz")
		return err == nil && code == 200, fmt.Sprint(code, body, err)
	})
}

// deleteNow deletes without a grace period: no kubelet here finishes pods.
func deleteNow() client.DeleteOption { return client.GracePeriodSeconds(0) }
