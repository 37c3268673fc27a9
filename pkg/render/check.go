package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/bakery-ia/tlsgen/pkg/model"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/resource"
)

// Deployments decodes the built Deployments strictly into their k8s.io/api
// type, by name.
func Deployments(m resmap.ResMap) (map[string]*appsv1.Deployment, error) {
	out := map[string]*appsv1.Deployment{}
	for _, r := range m.Resources() {
		if r.GetKind() != "Deployment" {
			continue
		}
		d := &appsv1.Deployment{}
		if err := DecodeStrict(r, d); err != nil {
			return nil, fmt.Errorf("Deployment %q: %w", r.GetName(), err)
		}
		out[d.Name] = d
	}
	return out, nil
}

// DecodeStrict decodes a built resource into a typed object, refusing any
// field the type does not have.
func DecodeStrict(r *resource.Resource, into any) error {
	js, err := r.MarshalJSON()
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	return dec.Decode(into)
}

// CheckBase looks in the base for what the overlay relies on and
// kustomize would not catch: every Deployment the inventory names, with a
// selector, and the container to patch (a strategic merge patch would
// otherwise add a half-empty container). It also finds what `kustomize
// build` would refuse in the overlay, for `render -o`, which does not build:
// two resources of one kind and name, and a patched Deployment whose file
// sets a namespace. It returns the container to patch in each Deployment,
// read from the base where the inventory names none (see Container), and
// warnings for what works but is likely a mistake.
func CheckBase(inv *model.Inventory, base *Base) (containers map[string]string, warnings []string, err error) {
	var problems problemList
	for _, d := range base.duplicates {
		problems.add("%s: the overlay puts every resource in namespace %s, where kustomize refuses two of one kind and name", d, inv.Namespace)
	}
	containers = map[string]string{}
	for _, s := range inv.Servers() {
		d, ok := base.Deployments[s.Name]
		if !ok {
			problems.add("no Deployment %q", s.Name)
			continue
		}
		// kustomize matches the patch, which names no namespace, to a
		// Deployment whose file names none or "default", whatever namespace
		// a kustomization sets later (the overlay's replaces the base's);
		// TestCheckBaseRefusesWhatKustomizeRefuses holds this to a build.
		if ns := base.fileNamespaces[s.Name]; ns != "" && ns != "default" {
			problems.add("Deployment %q sets namespace %q in its file, so kustomize finds no target for its patch, which names none (\"no resource matches strategic merge patch\"): set the namespace in the base's kustomization instead", s.Name, ns)
		}
		if d.Spec.Selector == nil || len(d.Spec.Selector.MatchLabels)+len(d.Spec.Selector.MatchExpressions) == 0 {
			problems.add("Deployment %q has no selector", s.Name)
		}
		c, err := Container(d, s.Container, s.DefaultContainer, s.ContainerField)
		if err != nil {
			problems.add("%v", err)
			continue
		}
		containers[s.Name] = c.Name
		if pg := inv.Postgres; s.Kind == model.PostgresKind && pg.UID == nil && c.Image != pg.Image {
			// With a uid stated, the image does not matter.
			warnings = append(warnings, fmt.Sprintf("Deployment %q runs %s but postgres.image is %s: the TLS files are owned by uid %d, which fits the inventory's image", s.Name, c.Image, pg.Image, pg.RunAsUID()))
		}
	}
	return containers, warnings, problems.err()
}

// DefaultContainerAnnotation names a Pod's default container, as kubectl
// reads it (kubectl logs, exec).
const DefaultContainerAnnotation = "kubectl.kubernetes.io/default-container"

// Container chooses the container to patch in d: the one stated; else the
// Deployment's only container; else the one its pod template's
// kubectl.kubernetes.io/default-container annotation names; else the one
// named def. field is where the inventory states it, for messages.
func Container(d *appsv1.Deployment, stated, def, field string) (*corev1.Container, error) {
	cs := d.Spec.Template.Spec.Containers
	find := func(name string) *corev1.Container {
		for i := range cs {
			if cs[i].Name == name {
				return &cs[i]
			}
		}
		return nil
	}
	if stated != "" {
		if c := find(stated); c != nil {
			return c, nil
		}
		return nil, fmt.Errorf("Deployment %q has no container %q (%s)", d.Name, stated, field)
	}
	if len(cs) == 1 {
		return &cs[0], nil
	}
	if c := find(d.Spec.Template.Annotations[DefaultContainerAnnotation]); c != nil {
		return c, nil
	}
	if c := find(def); c != nil {
		return c, nil
	}
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("Deployment %q has no containers", d.Name)
	}
	return nil, fmt.Errorf("Deployment %q has containers %s and none is named %q or marked with the %s annotation: set %s", d.Name, strings.Join(names, ", "), def, DefaultContainerAnnotation, field)
}

// maxProblems is how many problems an error spells out; a base that lacks
// a thousand Deployments is one mistake, not a thousand.
const maxProblems = 5

// problemList counts every problem and formats the first maxProblems.
type problemList struct {
	shown []string
	n     int
}

func (p *problemList) add(format string, args ...any) {
	p.n++
	if len(p.shown) < maxProblems {
		p.shown = append(p.shown, fmt.Sprintf(format, args...))
	}
}

func (p *problemList) err() error {
	if p.n == 0 {
		return nil
	}
	shown := p.shown
	if p.n > len(shown) {
		shown = append(shown[:len(shown):len(shown)], fmt.Sprintf("and %d more", p.n-len(shown)))
	}
	return errors.New(strings.Join(shown, "; "))
}
