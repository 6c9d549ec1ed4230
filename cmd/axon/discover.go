package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// agentSelector selects the agent pods of the DaemonSet the operator runs
// (controller/agentset.Labels).
const agentSelector = "app.kubernetes.io/name=axon-agent,app.kubernetes.io/part-of=axon"

// defaultAgentPort is the agent's metrics port when its pod declares none.
const defaultAgentPort = 9090

func init() { discoverAgents = discoverFromCluster }

// discoverFromCluster lists the running agent pods of the cluster kubectl
// would talk to (KUBECONFIG, ~/.kube/config, or the pod's service account)
// in $AXON_NAMESPACE (default axon-system) and returns their API URLs.
func discoverFromCluster(ctx context.Context) ([]string, error) {
	cfg, err := kubeConfig()
	if err != nil {
		return nil, fmt.Errorf("%w: no --agent URL given and no cluster to find agents in: %v", errUsage, err)
	}
	ns := os.Getenv("AXON_NAMESPACE")
	if ns == "" {
		ns = "axon-system"
	}
	return agentURLs(ctx, cfg, ns)
}

// kubeConfig loads the client configuration as kubectl does, falling back
// to the in-cluster one.
func kubeConfig() (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err == nil {
		return cfg, nil
	}
	if ic, icErr := rest.InClusterConfig(); icErr == nil {
		return ic, nil
	}
	return nil, err
}

// agentURLs returns http://IP:port of every running agent pod in namespace
// ns; the port is the container port named "metrics", else the default.
func agentURLs(ctx context.Context, cfg *rest.Config, ns string) ([]string, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to the API server: %w", err)
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: agentSelector})
	if err != nil {
		return nil, fmt.Errorf("listing agent pods in %s: %w", ns, err)
	}
	var urls []string
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
			continue
		}
		urls = append(urls, "http://"+net.JoinHostPort(p.Status.PodIP, strconv.Itoa(metricsPort(&p))))
	}
	if len(urls) == 0 {
		return nil, errors.New("no running agent pod (" + agentSelector + ") in namespace " + ns)
	}
	return urls, nil
}

func metricsPort(p *corev1.Pod) int {
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if strings.EqualFold(cp.Name, "metrics") {
				return int(cp.ContainerPort)
			}
		}
	}
	return defaultAgentPort
}
