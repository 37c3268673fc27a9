package render

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/bakery-ia/tlsgen/pkg/model"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

// Deployments decodes the Deployments of built manifests strictly into
// their k8s.io/api type, by name.
func Deployments(built []byte) (map[string]*appsv1.Deployment, error) {
	out := map[string]*appsv1.Deployment{}
	for _, doc := range bytes.Split(built, []byte("\n---\n")) {
		var meta struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return nil, err
		}
		if meta.Kind != "Deployment" {
			continue
		}
		d := &appsv1.Deployment{}
		if err := yaml.UnmarshalStrict(doc, d); err != nil {
			return nil, fmt.Errorf("decoding a Deployment: %w", err)
		}
		out[d.Name] = d
	}
	return out, nil
}

// Check looks at the built overlay for what kustomize accepts but a cluster
// would not run: a patched Deployment that lost its selector, a container
// the base does not have (a patch would add a half-empty one), a volume
// mount without its volume.
func Check(inv *model.Inventory, built []byte) error {
	deps, err := Deployments(built)
	if err != nil {
		return err
	}
	var problems []string
	check := func(name, container, field string) {
		d, ok := deps[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("Deployment %q not found", name))
			return
		}
		if d.Spec.Selector == nil || len(d.Spec.Selector.MatchLabels)+len(d.Spec.Selector.MatchExpressions) == 0 {
			problems = append(problems, fmt.Sprintf("Deployment %q has no selector", name))
		}
		spec := d.Spec.Template.Spec
		found := false
		for _, c := range spec.Containers {
			if c.Name == container {
				found = c.Image != ""
			}
		}
		if !found {
			problems = append(problems, fmt.Sprintf("Deployment %q has no container %q (%s)", name, container, field))
		}
		volumes := map[string]bool{}
		for _, v := range spec.Volumes {
			volumes[v.Name] = true
		}
		for _, c := range append(spec.InitContainers, spec.Containers...) {
			for _, m := range c.VolumeMounts {
				if !volumes[m.Name] {
					problems = append(problems, fmt.Sprintf("Deployment %q: container %q mounts volume %q, which the pod does not have", name, c.Name, m.Name))
				}
			}
		}
	}
	if pg := inv.Postgres; pg != nil {
		for _, db := range pg.Databases {
			check(db.Name, pg.Container, "postgres.container")
		}
	}
	if r := inv.Redis; r != nil {
		check(r.Name, r.Container, "redis.container")
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}
