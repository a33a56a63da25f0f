package check

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/icn-coop/icn/coopnode"
	"github.com/icn-coop/icn/hub"
	"github.com/icn-coop/icn/identity"
)

type objects struct {
	configMaps   map[string]*corev1.ConfigMap
	services     map[string]*corev1.Service
	statefulSets map[string]*appsv1.StatefulSet
	pdbs         map[string]*policyv1.PodDisruptionBudget
}

// strict decodes one YAML document into v, refusing unknown fields.
func strict(doc []byte, v any) error {
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func load(t *testing.T, files ...string) *objects {
	t.Helper()
	o := &objects{configMaps: map[string]*corev1.ConfigMap{}, services: map[string]*corev1.Service{},
		statefulSets: map[string]*appsv1.StatefulSet{}, pdbs: map[string]*policyv1.PodDisruptionBudget{}}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join("..", f))
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			where := fmt.Sprintf("%s document %d (%s)", f, i, tm.Kind)
			var obj interface{ GetName() string }
			want := map[string]string{"ConfigMap": "v1", "Service": "v1", "StatefulSet": "apps/v1", "PodDisruptionBudget": "policy/v1"}[tm.Kind]
			if want == "" || tm.APIVersion != want {
				t.Fatalf("%s: apiVersion %q kind %q: not one this check knows (want %s)", where, tm.APIVersion, tm.Kind, want)
			}
			switch tm.Kind {
			case "ConfigMap":
				v := &corev1.ConfigMap{}
				obj, o.configMaps[name(t, where, doc)] = v, v
			case "Service":
				v := &corev1.Service{}
				obj, o.services[name(t, where, doc)] = v, v
			case "StatefulSet":
				v := &appsv1.StatefulSet{}
				obj, o.statefulSets[name(t, where, doc)] = v, v
			case "PodDisruptionBudget":
				v := &policyv1.PodDisruptionBudget{}
				obj, o.pdbs[name(t, where, doc)] = v, v
			}
			if err := strict([]byte(doc), obj); err != nil {
				t.Fatalf("%s: does not decode strictly into the Kubernetes API type: %v", where, err)
			}
		}
	}
	return o
}

func stripComments(doc string) string {
	var out []string
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func name(t *testing.T, where, doc string) string {
	var m metav1.PartialObjectMetadata
	if err := yaml.Unmarshal([]byte(doc), &m); err != nil || m.Name == "" {
		t.Fatalf("%s: no metadata.name (%v)", where, err)
	}
	return m.Name
}

func selects(t *testing.T, what string, sel *metav1.LabelSelector, podLabels map[string]string) {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() || !s.Matches(labels.Set(podLabels)) {
		t.Errorf("%s: selector %v does not select the pods (labels %v): %v", what, sel, podLabels, err)
	}
}

// did replaces the manifests' did:icn:REPLACE_… placeholders with real DIDs.
var placeholder = regexp.MustCompile(`did:icn:REPLACE_[A-Z0-9_]+`)

func withDIDs(t *testing.T, s string) string {
	return placeholder.ReplaceAllStringFunc(s, func(string) string {
		k, err := identity.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return string(k.DID())
	})
}

// checkPod checks a StatefulSet's pod template: its containers' mounts name declared
// volumes, ConfigMap volumes exist, probes ask /readyz (readiness) and
// /healthz (liveness) on declared ports, $(VAR)s are defined, and the pod
// runs unprivileged.
func checkPod(t *testing.T, o *objects, what string, ss *appsv1.StatefulSet, secrets []string) {
	t.Helper()
	spec := ss.Spec.Template.Spec
	vols := map[string]corev1.Volume{}
	for _, c := range ss.Spec.VolumeClaimTemplates {
		vols[c.Name] = corev1.Volume{Name: c.Name}
	}
	for _, v := range spec.Volumes {
		vols[v.Name] = v
		switch {
		case v.ConfigMap != nil && o.configMaps[v.ConfigMap.Name] == nil:
			t.Errorf("%s: volume %s: no ConfigMap %s in the manifests", what, v.Name, v.ConfigMap.Name)
		case v.Secret != nil && !contains(secrets, v.Secret.SecretName):
			t.Errorf("%s: volume %s: Secret %s is not one the instructions create (%v)", what, v.Name, v.Secret.SecretName, secrets)
		}
	}
	if sc := spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 10001 {
		t.Errorf("%s: the pod must run as non-root uid 10001 (the image's user)", what)
	}
	var mains int
	for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		cw := what + " container " + c.Name
		for _, m := range c.VolumeMounts {
			if _, ok := vols[m.Name]; !ok {
				t.Errorf("%s: mounts undeclared volume %s", cw, m.Name)
			}
		}
		env := map[string]bool{}
		for _, e := range c.Env {
			env[e.Name] = true
		}
		for _, a := range append(append([]string{}, c.Args...), envValues(c.Env)...) {
			for _, m := range regexp.MustCompile(`\$\((\w+)\)`).FindAllStringSubmatch(a, -1) {
				if !env[m[1]] {
					t.Errorf("%s: %q uses $(%s), which its env does not define", cw, a, m[1])
				}
			}
		}
		if sc := c.SecurityContext; sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.Capabilities == nil || len(sc.Capabilities.Drop) == 0 {
			t.Errorf("%s: want allowPrivilegeEscalation false, readOnlyRootFilesystem true, capabilities dropped", cw)
		}
		if len(c.Args) == 0 || (c.Args[0] != "hub" && c.Args[0] != "coop") {
			continue
		}
		mains++
		ports := map[string]bool{}
		for _, p := range c.Ports {
			ports[p.Name] = true
		}
		for probe, path := range map[*corev1.Probe]string{c.ReadinessProbe: "/readyz", c.LivenessProbe: "/healthz"} {
			if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != path || !ports[probe.HTTPGet.Port.StrVal] {
				t.Errorf("%s: want an httpGet probe of %s on a declared port, got %+v", cw, path, probe)
			}
		}
	}
	if mains != 1 {
		t.Errorf("%s: %d containers run icn hub or icn coop, want 1", what, mains)
	}
}

func envValues(es []corev1.EnvVar) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Value)
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func servicePorts(t *testing.T, what string, svc *corev1.Service, podSpec corev1.PodSpec) {
	t.Helper()
	declared := map[string]corev1.Protocol{}
	for _, c := range podSpec.Containers {
		for _, p := range c.Ports {
			declared[p.Name] = p.Protocol
		}
	}
	for _, p := range svc.Spec.Ports {
		proto, ok := declared[p.TargetPort.StrVal]
		if !ok || proto != p.Protocol {
			t.Errorf("%s: service port %s targets %q (%s), which the pods do not declare with that protocol", what, p.Name, p.TargetPort.StrVal, p.Protocol)
		}
	}
}

func TestHubManifests(t *testing.T) {
	o := load(t, "hub.yaml")
	ss := o.statefulSets["icn-hub"]
	if ss == nil {
		t.Fatal("no StatefulSet icn-hub")
	}
	podLabels := ss.Spec.Template.Labels
	selects(t, "StatefulSet icn-hub", ss.Spec.Selector, podLabels)
	checkPod(t, o, "StatefulSet icn-hub", ss, []string{"icn-hub-keys"})
	if ss.Spec.Replicas == nil || *ss.Spec.Replicas != 3 {
		t.Errorf("icn-hub replicas %v, want 3", ss.Spec.Replicas)
	}
	svc := o.services[ss.Spec.ServiceName]
	if svc == nil || svc.Spec.ClusterIP != corev1.ClusterIPNone || !svc.Spec.PublishNotReadyAddresses {
		t.Fatalf("serviceName %q: want a headless Service publishing not-ready addresses, got %+v", ss.Spec.ServiceName, svc)
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(podLabels)) {
		t.Errorf("Service %s does not select the hub pods", svc.Name)
	}
	servicePorts(t, "icn-hub", svc, ss.Spec.Template.Spec)
	pdb := o.pdbs["icn-hub"]
	if pdb == nil || pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Fatalf("PodDisruptionBudget icn-hub: want maxUnavailable 1 (a 3-node quorum survives one), got %+v", pdb)
	}
	selects(t, "PodDisruptionBudget icn-hub", pdb.Spec.Selector, podLabels)

	// One configuration per pod, each loadable by icn hub, advertising the
	// pod's own name under the headless Service, all with the same peers.
	cm := o.configMaps["icn-hub"]
	var peers string
	for i := 0; i < int(*ss.Spec.Replicas); i++ {
		pod := fmt.Sprintf("%s-%d", ss.Name, i)
		body, ok := cm.Data[pod+".toml"]
		if !ok {
			t.Fatalf("ConfigMap icn-hub has no %s.toml for pod %s", pod, pod)
		}
		p := filepath.Join(t.TempDir(), "hub.toml")
		os.WriteFile(p, []byte(withDIDs(t, body)), 0o600)
		fc, err := hub.LoadConfig(p)
		if err != nil {
			t.Fatalf("%s.toml: %v", pod, err)
		}
		if want := pod + "." + svc.Name + ":7100"; fc.Raft.Advertise != want {
			t.Errorf("%s.toml: raft advertise %q, want %q", pod, fc.Raft.Advertise, want)
		}
		var ps []string
		for _, pe := range fc.Peers {
			ps = append(ps, pe.Raft+" "+pe.GRPC)
		}
		if s := strings.Join(ps, ","); peers == "" {
			peers = s
		} else if s != peers {
			t.Errorf("%s.toml lists other peers (%s) than %s-0.toml (%s)", pod, s, ss.Name, peers)
		}
		if len(fc.Peers) != int(*ss.Spec.Replicas) {
			t.Errorf("%s.toml: %d peers for %d replicas", pod, len(fc.Peers), *ss.Spec.Replicas)
		}
	}
}

func TestCoopManifests(t *testing.T) {
	o := load(t, "coop.yaml")
	ss := o.statefulSets["icn-coop"]
	if ss == nil {
		t.Fatal("no StatefulSet icn-coop")
	}
	if ss.Spec.Replicas == nil || *ss.Spec.Replicas != 1 {
		t.Errorf("icn-coop replicas %v: a co-op node's ledger has one writer, want 1", ss.Spec.Replicas)
	}
	selects(t, "StatefulSet icn-coop", ss.Spec.Selector, ss.Spec.Template.Labels)
	checkPod(t, o, "StatefulSet icn-coop", ss, []string{"icn-coop-key", "icn-coop-tls"})
	svc := o.services["icn-coop"]
	if svc == nil || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(ss.Spec.Template.Labels)) {
		t.Fatal("Service icn-coop does not select the co-op pod")
	}
	servicePorts(t, "icn-coop", svc, ss.Spec.Template.Spec)
	for _, c := range ss.Spec.Template.Spec.Containers {
		if c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet.Scheme != corev1.URISchemeHTTPS {
			t.Errorf("the gateway serves TLS: probe over HTTPS, not %s", c.ReadinessProbe.HTTPGet.Scheme)
		}
	}
	p := filepath.Join(t.TempDir(), "coop.toml")
	os.WriteFile(p, []byte(withDIDs(t, o.configMaps["icn-coop"].Data["coop.toml"])), 0o600)
	cfg, err := coopnode.LoadConfig(p)
	if err != nil {
		t.Fatalf("coop.toml: %v", err)
	}
	if !cfg.Gateway.ServesTLS() {
		t.Error("coop.toml: the gateway listens beyond loopback; it must serve TLS")
	}
}

// TestStrictDecodingCatchesMistakes: the check is not vacuous: a misspelt
// field and a value of the wrong type are refused.
func TestStrictDecodingCatchesMistakes(t *testing.T) {
	for _, doc := range []string{
		"apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: x}\nspec: {replica: 3}\n",
		"apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: x}\nspec: {replicas: three}\n",
		"apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{name: a, port: 1, protocl: TCP}]}\n",
	} {
		var v any = &appsv1.StatefulSet{}
		if strings.Contains(doc, "Service") {
			v = &corev1.Service{}
		}
		if err := strict([]byte(doc), v); err == nil {
			t.Errorf("accepted:\n%s", doc)
		}
	}
}
