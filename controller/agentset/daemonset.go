package agentset

import (
	"fmt"
	"maps"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/axon-dev/axon/api/v1alpha1"
)

// Options are the parts of the DaemonSet that come from the controller, not
// from the AxonAgent.
type Options struct {
	// Namespace of the DaemonSet (the controller's own).
	Namespace string
	// Name of the DaemonSet; default "axon-agent".
	Name string
	// ServiceAccountName the agents run as; default "axon-agent" (its RBAC
	// is in deploy/rbac).
	ServiceAccountName string
	// DefaultImage is the agent image used when the AxonAgent names none.
	DefaultImage string
	// CreateDefault makes the controller create AxonAgent "default" (empty
	// spec: every default) when it starts and there is none, so that one
	// `kubectl apply -k deploy/` installs agents without a custom
	// resource applied in the same breath as its CRD.
	CreateDefault bool
}

func (o Options) withDefaults() Options {
	if o.Name == "" {
		o.Name = "axon-agent"
	}
	if o.ServiceAccountName == "" {
		o.ServiceAccountName = "axon-agent"
	}
	return o
}

// Host paths the agent mounts, and where.
const (
	// PinDir is where the agent pins its programs, links and maps; it is on
	// the host's bpffs so that enforcement outlives the agent's pod.
	PinDir = "/sys/fs/bpf/axon"
	// ContainerName of the agent in the pod template.
	ContainerName = "agent"
)

// Labels selects the agent pods; it is the DaemonSet's (immutable) selector.
func Labels() map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":    "axon-agent",
		"app.kubernetes.io/part-of": "axon",
	}
}

// Capabilities the agent adds (all others dropped): BPF and PERFMON to load
// programs and read maps (SYS_ADMIN before 5.8), NET_ADMIN to attach TC
// programs, SYS_ADMIN and SYS_PTRACE to open the network namespaces of pods
// through /proc/PID/ns/net and talk netlink in them (finding each pod's
// host-side interface), SYS_RESOURCE to lift the memlock limit that kernels
// before 5.11 charge maps against.
var Capabilities = []corev1.Capability{"BPF", "PERFMON", "NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE", "SYS_RESOURCE"}

// DaemonSet returns the agent DaemonSet the AxonAgent asks for. It is a pure
// function of its inputs: the same AxonAgent gives the same pod template,
// so only a real change rolls the agents.
func DaemonSet(a *v1alpha1.AxonAgent, o Options) (*appsv1.DaemonSet, error) {
	o = o.withDefaults()
	s := a.Spec
	image := s.Image
	if image == "" {
		image = o.DefaultImage
	}
	if image == "" {
		return nil, fmt.Errorf("no agent image: spec.image is empty and the controller has no --agent-image")
	}
	port := s.MetricsPort
	if port == 0 {
		port = 9090
	}
	args := []string{
		"--in-cluster", // the pod's service account; NODE_NAME below
		"--metrics-addr=0.0.0.0:" + strconv.Itoa(int(port)),
		"--pin-dir=" + PinDir,
		"--attach-mode=" + orDefault(s.AttachMode, "auto"),
		"--log-level=" + orDefault(s.LogLevel, "info"),
		"--log-format=" + orDefault(s.LogFormat, "json"),
		"--observe=" + strconv.FormatBool(s.Observe == nil || *s.Observe),
	}
	// The map sizes always go on the command line, defaults included, so
	// that the agents run with the numbers the webhook judges policies by
	// (AxonAgent default), whatever defaults their image was built with.
	for _, m := range s.MapSizes() {
		args = append(args, "--"+m.Flag+"="+strconv.Itoa(int(m.Value)))
	}
	args = append(args,
		"--max-flows="+strconv.Itoa(int(s.FlowTableSize())),
		"--compile-timeout="+s.CompileTimeoutOrDefault().String(),
	)
	args = append(args, s.ExtraArgs...)

	nodeSelector := map[string]string{"kubernetes.io/os": "linux"}
	maps.Copy(nodeSelector, s.NodeSelector)
	tolerations := s.Tolerations
	if tolerations == nil {
		tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
	}
	resources := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("100m"),
			corev1.ResourceMemory: resource.MustParse("128Mi"),
		},
		Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
	}
	if s.Resources != nil {
		resources = *s.Resources
	}
	maxUnavailable := intstr.FromInt32(1)
	if s.MaxUnavailable != nil {
		maxUnavailable = *s.MaxUnavailable
	}
	probe := func(path string, period int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: path, Port: intstr.FromString("metrics"),
			}},
			PeriodSeconds: period, TimeoutSeconds: 2, FailureThreshold: 3,
		}
	}

	labels := Labels()
	container := corev1.Container{
		Name:            ContainerName,
		Image:           image,
		ImagePullPolicy: s.ImagePullPolicy,
		Args:            args,
		Env: []corev1.EnvVar{
			{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
			{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
		},
		Ports:          []corev1.ContainerPort{{Name: "metrics", ContainerPort: port, HostPort: port, Protocol: corev1.ProtocolTCP}},
		LivenessProbe:  probe("/healthz", 10),
		ReadinessProbe: probe("/readyz", 5),
		Resources:      resources,
		SecurityContext: &corev1.SecurityContext{
			Privileged:               ptr.To(false),
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			RunAsUser:                ptr.To[int64](0),
			Capabilities:             &corev1.Capabilities{Add: Capabilities, Drop: []corev1.Capability{"ALL"}},
			// The runtime's default seccomp profile refuses bpf() and
			// perf_event_open() on several runtimes whatever the
			// capabilities; the capability set above is the boundary.
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined},
		},
		VolumeMounts: []corev1.VolumeMount{
			{Name: "bpffs", MountPath: "/sys/fs/bpf"},
			{Name: "cgroup", MountPath: "/sys/fs/cgroup", ReadOnly: true},
			{Name: "netns", MountPath: "/run/netns", ReadOnly: true, MountPropagation: ptr.To(corev1.MountPropagationHostToContainer)},
			{Name: "tmp", MountPath: "/tmp"},
		},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	hostPath := func(name, path string, t corev1.HostPathType) corev1.Volume {
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path, Type: ptr.To(t)}}}
	}
	ds := &appsv1.DaemonSet{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"},
		ObjectMeta: metav1.ObjectMeta{
			Name: o.Name, Namespace: o.Namespace,
			Labels: map[string]string{
				"app.kubernetes.io/name":       "axon-agent",
				"app.kubernetes.io/part-of":    "axon",
				"app.kubernetes.io/managed-by": "axon-controller",
			},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: v1alpha1.GroupVersion.String(), Kind: "AxonAgent",
				Name: a.Name, UID: a.UID,
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{
				Type:          appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &maxUnavailable},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      labels,
					Annotations: map[string]string{"kubectl.kubernetes.io/default-container": ContainerName},
				},
				Spec: corev1.PodSpec{
					ServiceAccountName:            o.ServiceAccountName,
					HostNetwork:                   true,
					HostPID:                       true,
					DNSPolicy:                     corev1.DNSClusterFirstWithHostNet,
					PriorityClassName:             orDefault(s.PriorityClassName, "system-node-critical"),
					NodeSelector:                  nodeSelector,
					Tolerations:                   tolerations,
					ImagePullSecrets:              s.ImagePullSecrets,
					TerminationGracePeriodSeconds: ptr.To[int64](30),
					Containers:                    []corev1.Container{container},
					Volumes: []corev1.Volume{
						hostPath("bpffs", "/sys/fs/bpf", corev1.HostPathDirectory),
						hostPath("cgroup", "/sys/fs/cgroup", corev1.HostPathDirectory),
						hostPath("netns", "/run/netns", corev1.HostPathDirectoryOrCreate),
						{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					},
				},
			},
		},
	}
	return ds, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
