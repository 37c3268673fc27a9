package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/bakery-ia/tlsgen/pkg/model"
	appsv1 "k8s.io/api/apps/v1"
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
// sets a namespace. It returns warnings for what works but is likely a
// mistake.
func CheckBase(inv *model.Inventory, base *Base) (warnings []string, err error) {
	var problems problemList
	for _, d := range base.duplicates {
		problems.add("%s: the overlay puts every resource in namespace %s, where kustomize refuses two of one kind and name", d, inv.Namespace)
	}
	check := func(name, container, field, image string) {
		d, ok := base.Deployments[name]
		if !ok {
			problems.add("no Deployment %q", name)
			return
		}
		// kustomize matches the patch, which names no namespace, to a
		// Deployment whose file names none or "default", whatever namespace
		// a kustomization sets later (the overlay's replaces the base's);
		// TestCheckBaseRefusesWhatKustomizeRefuses holds this to a build.
		if ns := base.fileNamespaces[name]; ns != "" && ns != "default" {
			problems.add("Deployment %q sets namespace %q in its file, so kustomize finds no target for its patch, which names none (\"no resource matches strategic merge patch\"): set the namespace in the base's kustomization instead", name, ns)
		}
		if d.Spec.Selector == nil || len(d.Spec.Selector.MatchLabels)+len(d.Spec.Selector.MatchExpressions) == 0 {
			problems.add("Deployment %q has no selector", name)
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			if c.Name == container {
				if image != "" && c.Image != image {
					warnings = append(warnings, fmt.Sprintf("Deployment %q runs %s but postgres.image is %s: the TLS files are owned by uid %d, which fits the inventory's image", name, c.Image, image, inv.Postgres.RunAsUID()))
				}
				return
			}
		}
		problems.add("Deployment %q has no container %q (%s)", name, container, field)
	}
	if pg := inv.Postgres; pg != nil {
		image := pg.Image
		if pg.UID != nil {
			image = "" // the uid is stated, the image does not matter
		}
		for _, db := range pg.Databases {
			check(db.Name, pg.Container, "postgres.container", image)
		}
	}
	if r := inv.Redis; r != nil {
		check(r.Name, r.Container, "redis.container", "")
	}
	return warnings, problems.err()
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
