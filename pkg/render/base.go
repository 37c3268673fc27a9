package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	appsv1 "k8s.io/api/apps/v1"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// BaseDeployments returns the base's Deployments, by name. A base that only
// lists resources (files, or directories that do the same) and at most sets
// a namespace, labels or annotations is read directly: kustomize's resource
// accumulation is quadratic, a second for a thousand Deployments, and such
// a base's Deployments are its files' Deployments as far as CheckBase looks
// (names, selectors, containers). Any other base is built with kustomize.
func BaseDeployments(fsys filesys.FileSystem, dir string) (map[string]*appsv1.Deployment, error) {
	nodes, ok := readPlainBase(fsys, dir, 0)
	if !ok {
		m, err := BuildBase(fsys, dir)
		if err != nil {
			return nil, err
		}
		return Deployments(m)
	}
	out := map[string]*appsv1.Deployment{}
	for _, n := range nodes {
		if n.GetKind() != "Deployment" {
			continue
		}
		js, err := n.MarshalJSON()
		if err != nil {
			return nil, err
		}
		d := &appsv1.Deployment{}
		if err := json.Unmarshal(js, d); err != nil {
			return nil, fmt.Errorf("Deployment %q: %w", n.GetName(), err)
		}
		out[d.Name] = d
	}
	return out, nil
}

// plainKeys are the kustomization fields that leave names, selectors and
// containers as the resource files have them.
var plainKeys = map[string]bool{
	"apiVersion": true, "kind": true, "metadata": true, "resources": true,
	"namespace": true, "labels": true, "commonLabels": true, "commonAnnotations": true,
}

func readPlainBase(fsys filesys.FileSystem, dir string, depth int) ([]*yaml.RNode, bool) {
	if depth > 10 {
		return nil, false
	}
	var k *yaml.RNode
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		if data, err := fsys.ReadFile(filepath.Join(dir, name)); err == nil {
			if k, err = yaml.Parse(string(data)); err != nil {
				return nil, false
			}
			break
		}
	}
	if k == nil {
		return nil, false
	}
	fields, err := k.Fields()
	if err != nil {
		return nil, false
	}
	for _, f := range fields {
		if !plainKeys[f] {
			return nil, false
		}
	}
	resources, err := k.GetSlice("resources")
	if err != nil && !strings.Contains(err.Error(), "no field") {
		return nil, false
	}
	var out []*yaml.RNode
	for _, r := range resources {
		name, ok := r.(string)
		if !ok || strings.Contains(name, "://") {
			return nil, false
		}
		p := filepath.Join(dir, name)
		if fsys.IsDir(p) {
			nodes, ok := readPlainBase(fsys, p, depth+1)
			if !ok {
				return nil, false
			}
			out = append(out, nodes...)
			continue
		}
		data, err := fsys.ReadFile(p)
		if err != nil {
			return nil, false
		}
		nodes, err := (&kio.ByteReader{Reader: bytes.NewReader(data), OmitReaderAnnotations: true}).Read()
		if err != nil {
			return nil, false
		}
		out = append(out, nodes...)
	}
	return out, true
}
