package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Base is what CheckBase looks at in a base.
type Base struct {
	// Deployments are the base's Deployments, by name.
	Deployments map[string]*appsv1.Deployment
	// duplicates describe the resources the base holds more than once by
	// kind and name, sorted: the overlay puts them all in one namespace,
	// where kustomize refuses them.
	duplicates []string
	// fileNamespaces are the namespaces Deployments set in their own
	// files, by name. kustomize matches a patch to its target by the
	// target's namespace there, before any kustomization's namespace; it is
	// known only for a base read directly.
	fileNamespaces map[string]string
}

// BaseDeployments reads the base for CheckBase. A base that only lists
// resources (files, or directories that do the same) and at most sets a
// namespace, labels or annotations is read directly: kustomize's resource
// accumulation is quadratic, a second for a thousand Deployments, and such
// a base's Deployments are its files' Deployments as far as CheckBase looks
// (names, namespaces, selectors, containers). Any other base is built with
// kustomize.
func BaseDeployments(fsys filesys.FileSystem, dir string) (*Base, error) {
	nodes, ok := readPlainBase(fsys, dir, 0)
	if !ok {
		m, err := BuildBase(fsys, dir)
		if err != nil {
			return nil, err
		}
		deps, err := Deployments(m)
		if err != nil {
			return nil, err
		}
		var ids []resourceID
		for _, r := range m.Resources() {
			ids = append(ids, resourceID{r.GetApiVersion(), r.GetKind(), r.GetName()})
		}
		return &Base{Deployments: deps, duplicates: duplicates(ids)}, nil
	}
	b := &Base{Deployments: map[string]*appsv1.Deployment{}, fileNamespaces: map[string]string{}}
	var ids []resourceID
	for _, n := range nodes {
		ids = append(ids, resourceID{n.node.GetApiVersion(), n.node.GetKind(), n.node.GetName()})
		if n.node.GetKind() != "Deployment" {
			continue
		}
		// Decoding the node to Go values and those to JSON is twice as fast
		// as RNode.MarshalJSON, which writes the node as YAML text and parses
		// that again.
		var v any
		if err := n.node.YNode().Decode(&v); err != nil {
			return nil, fmt.Errorf("Deployment %q: %w", n.node.GetName(), err)
		}
		js, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("Deployment %q: %w", n.node.GetName(), err)
		}
		d := &appsv1.Deployment{}
		if err := json.Unmarshal(js, d); err != nil {
			return nil, fmt.Errorf("Deployment %q: %w", n.node.GetName(), err)
		}
		b.Deployments[d.Name] = d
		b.fileNamespaces[d.Name] = n.fileNamespace
	}
	b.duplicates = duplicates(ids)
	return b, nil
}

type resourceID struct{ apiVersion, kind, name string }

// duplicates describes the ids that occur more than once, sorted. The
// namespace does not count: the overlay sets one on every resource.
func duplicates(ids []resourceID) []string {
	count := map[resourceID]int{}
	for _, id := range ids {
		count[id]++
	}
	var out []string
	for id, n := range count {
		if n > 1 {
			out = append(out, fmt.Sprintf("%s %q is in the base %d times", id.kind, id.name, n))
		}
	}
	slices.Sort(out)
	return out
}

// plainNode is a resource of a plain base, with the namespace its own file
// gives it.
type plainNode struct {
	node          *yaml.RNode
	fileNamespace string
}

// plainKeys are the kustomization fields that leave names, selectors and
// containers as the resource files have them.
var plainKeys = map[string]bool{
	"apiVersion": true, "kind": true, "metadata": true, "resources": true,
	"namespace": true, "labels": true, "commonLabels": true, "commonAnnotations": true,
}

// readPlainBase reads a plain base's resources, and sets the namespace a
// kustomization gives them on its Deployments (the outermost wins, as in
// kustomize). kio unwraps a List; any other kind named *List is left to
// kustomize, which inlines its items.
func readPlainBase(fsys filesys.FileSystem, dir string, depth int) ([]plainNode, bool) {
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
	var out []plainNode
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
		for _, n := range nodes {
			if strings.HasSuffix(n.GetKind(), "List") {
				return nil, false
			}
			out = append(out, plainNode{node: n, fileNamespace: n.GetNamespace()})
		}
	}
	if ns, _ := k.GetString("namespace"); ns != "" {
		for _, n := range out {
			if n.node.GetKind() == "Deployment" && n.node.SetNamespace(ns) != nil {
				return nil, false
			}
		}
	}
	return out, true
}
