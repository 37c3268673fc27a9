package render_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/bakery-ia/tlsgen/pkg/model"
	"github.com/bakery-ia/tlsgen/pkg/render"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// checkBuilt holds a built overlay to what a cluster needs: every object
// decodes strictly into its k8s.io/api type, and every patched Deployment
// keeps the base's selector, volumes, initContainers and containers, and
// mounts only volumes it has.
func checkBuilt(t *testing.T, inv *model.Inventory, baseDir string, built resmap.ResMap) {
	t.Helper()
	for _, r := range built.Resources() {
		var into any
		switch r.GetKind() {
		case "Deployment":
			into = &appsv1.Deployment{}
		case "Service":
			into = &corev1.Service{}
		case "PersistentVolumeClaim":
			into = &corev1.PersistentVolumeClaim{}
		case "Secret":
			into = &corev1.Secret{}
		case "ConfigMap":
			into = &corev1.ConfigMap{}
		default:
			t.Errorf("%s %s: a kind the overlay should not hold", r.GetKind(), r.GetName())
			continue
		}
		if err := render.DecodeStrict(r, into); err != nil {
			t.Errorf("%s %s: %v", r.GetKind(), r.GetName(), err)
		}
		if r.GetNamespace() != inv.Namespace {
			t.Errorf("%s %s: namespace %q, want %q", r.GetKind(), r.GetName(), r.GetNamespace(), inv.Namespace)
		}
	}

	base, err := render.BuildBase(filesys.MakeFsOnDisk(), baseDir)
	if err != nil {
		t.Fatal(err)
	}
	before, err := render.Deployments(base)
	if err != nil {
		t.Fatal(err)
	}
	after, err := render.Deployments(built)
	if err != nil {
		t.Fatal(err)
	}
	var patched []string
	if inv.Postgres != nil {
		for _, db := range inv.Postgres.Databases {
			patched = append(patched, db.Name)
		}
	}
	if inv.Redis != nil {
		patched = append(patched, inv.Redis.Name)
	}
	for _, c := range inv.Clients {
		patched = append(patched, c.Name)
	}
	for _, name := range patched {
		b, a := before[name], after[name]
		if b == nil || a == nil {
			t.Errorf("Deployment %q: missing before (%v) or after (%v) the overlay", name, b != nil, a != nil)
			continue
		}
		if !equality.Semantic.DeepEqual(b.Spec.Selector, a.Spec.Selector) {
			t.Errorf("Deployment %q: selector %v became %v", name, b.Spec.Selector, a.Spec.Selector)
		}
		if !equality.Semantic.DeepEqual(b.Spec.Template.Labels, a.Spec.Template.Labels) {
			t.Errorf("Deployment %q: pod labels %v became %v", name, b.Spec.Template.Labels, a.Spec.Template.Labels)
		}
		bs, as := b.Spec.Template.Spec, a.Spec.Template.Spec
		for _, v := range bs.Volumes {
			i := slices.IndexFunc(as.Volumes, func(x corev1.Volume) bool { return x.Name == v.Name })
			if i < 0 || !equality.Semantic.DeepEqual(v, as.Volumes[i]) {
				t.Errorf("Deployment %q: base volume %q lost or changed", name, v.Name)
			}
		}
		for _, c := range append(bs.InitContainers, bs.Containers...) {
			i := slices.IndexFunc(append(as.InitContainers, as.Containers...), func(x corev1.Container) bool { return x.Name == c.Name })
			if i < 0 {
				t.Errorf("Deployment %q: base container %q lost", name, c.Name)
				continue
			}
			got := append(as.InitContainers, as.Containers...)[i]
			if got.Image != c.Image || !equality.Semantic.DeepEqual(got.Resources, c.Resources) || !equality.Semantic.DeepEqual(got.Ports, c.Ports) {
				t.Errorf("Deployment %q: container %q changed its image, resources or ports", name, c.Name)
			}
			for _, m := range c.VolumeMounts {
				if !slices.ContainsFunc(got.VolumeMounts, func(x corev1.VolumeMount) bool { return equality.Semantic.DeepEqual(x, m) }) {
					t.Errorf("Deployment %q: container %q lost its mount %s", name, c.Name, fmt.Sprint(m))
				}
			}
		}
		for _, c := range append(as.InitContainers, as.Containers...) {
			for _, m := range c.VolumeMounts {
				if !slices.ContainsFunc(as.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name }) {
					t.Errorf("Deployment %q: container %q mounts %q, which the pod does not have", name, c.Name, m.Name)
				}
			}
		}
		if a.Spec.Template.Annotations[render.ChecksumKey] == "" {
			t.Errorf("Deployment %q: no %s annotation on the pod template", name, render.ChecksumKey)
		}
	}
}

func TestAPlainBaseReadsAsKustomizeBuildsIt(t *testing.T) {
	fsys := filesys.MakeFsOnDisk()
	base, err := render.BaseDeployments(fsys, "../../examples/base")
	if err != nil {
		t.Fatal(err)
	}
	m, err := render.BuildBase(fsys, "../../examples/base")
	if err != nil {
		t.Fatal(err)
	}
	built, err := render.Deployments(m)
	if err != nil {
		t.Fatal(err)
	}
	read := base.Deployments
	if len(read) != 29 || len(read) != len(built) {
		t.Fatalf("read %d Deployments, kustomize built %d; want 29 (14 databases, a Redis, 14 services)", len(read), len(built))
	}
	for name, b := range built {
		r := read[name]
		if r == nil || r.Namespace != b.Namespace || !equality.Semantic.DeepEqual(r.Spec.Selector, b.Spec.Selector) || !equality.Semantic.DeepEqual(r.Spec.Template.Spec.Containers, b.Spec.Template.Spec.Containers) {
			t.Errorf("Deployment %q: read and built differ", name)
		}
	}
}
