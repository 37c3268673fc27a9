package render

import (
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/api/builtins"
	"sigs.k8s.io/kustomize/api/filters/namespace"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/provider"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/openapi"
	"sigs.k8s.io/kustomize/kyaml/resid"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// fastBuild builds the tree as krusty does, in linear time, when the tree
// and its base use only what Render writes and a plain base needs:
// resources (files and directories), a namespace, and strategic merge
// patches given by path. It returns false for anything else, and for any
// error: Build then runs krusty, which builds it or says why not.
//
// krusty is quadratic in the number of resources (api v0.21.2): every
// resmap.Append compares the new id with every resource's (resource
// accumulation, the sort, each namespace change), each patch and each
// name reference searches every resource, and each comparison re-reads
// the ids from the YAML. A thousand databases (5,000 resources) take
// minutes. fastBuild runs kustomize's own steps on each resource, in
// krusty's order, and keeps the ids in maps:
//
//   - each file is parsed by the resource factory krusty uses;
//   - a kustomization's namespace is set by kustomize's namespace
//     transformer, on one resource at a time;
//   - each patch is applied with (*resource.Resource).ApplySmPatch, as the
//     patch transformer does, to the one resource its id matches;
//   - resources are sorted by kustomize's legacy sort, and the build
//     annotations are removed as krusty.(*Kustomizer).Run removes them.
//
// krusty's other steps (hash suffixes, the name back-reference fixer,
// vars, dropping local-config resources) change nothing in what fastBuild
// takes: it refuses every other kustomization field, local-config and
// kustomize-internal annotations, and the kinds in refusedKinds. Nothing
// renames a resource, so the fixer would set every reference to the name
// it already has. What fastBuild does not reproduce is that fixer's error
// on a malformed reference (a referenced name that is a map, not a
// string): it builds such a base where krusty refuses it.
func fastBuild(fsys filesys.FileSystem, abs string, tree Tree) (resmap.ResMap, bool) {
	b := &fastBuilder{fsys: fsys, root: abs, tree: map[string][]byte{}, rf: provider.NewDepProvider().GetResourceFactory()}
	for _, f := range tree {
		b.tree[f.Path] = f.Data
	}
	// krusty.(*Kustomizer).Run sets the schema the strategic merge uses
	// from the top kustomization, which has no openapi field.
	if err := openapi.SetSchema(nil, nil, true); err != nil {
		return nil, false
	}
	rs, ok := b.target(abs, []string{abs}, true)
	if !ok {
		return nil, false
	}
	for _, r := range rs {
		// IgnoreLocal (krusty drops local-config resources) validates
		// every resource's metadata.
		if _, err := r.GetValidatedMetadata(); err != nil {
			return nil, false
		}
	}
	legacySort(rs)
	// resmap.New().Append is the quadratic check again; ApplyFilter takes
	// a whole list of new nodes, each wrapped as a Resource.
	m := resmap.New()
	err := m.ApplyFilter(kio.FilterFunc(func([]*yaml.RNode) ([]*yaml.RNode, error) {
		nodes := make([]*yaml.RNode, len(rs))
		for i, r := range rs {
			nodes[i] = &r.RNode
		}
		return nodes, nil
	}))
	if err != nil || m.Size() != len(rs) {
		return nil, false
	}
	m.RemoveBuildAnnotations()
	if m.RemoveOriginAnnotations() != nil || m.RemoveTransformerAnnotations() != nil {
		return nil, false
	}
	return m, true
}

// legacySort orders rs as `kustomize build` does by default (--reorder
// legacy): by kind, Namespaces first and webhooks last, then by id. It is
// kustomize's SortOrderTransformer (api v0.21.2,
// internal/builtins/SortOrderTransformer.go, which krusty does not export),
// without its rebuilding of the resmap. The ids are unique, so the order
// is total and any sort gives the same result.
func legacySort(rs []*resource.Resource) {
	rank := map[string]int{}
	for i, k := range legacyOrderFirst {
		rank[k] = -len(legacyOrderFirst) + i
	}
	for i, k := range legacyOrderLast {
		rank[k] = 1 + i
	}
	ids := make(map[*resource.Resource]resid.ResId, len(rs))
	for _, r := range rs {
		ids[r] = r.CurId()
	}
	sort.Slice(rs, func(i, j int) bool {
		a, b := ids[rs[i]], ids[rs[j]]
		if !a.Gvk.Equals(b.Gvk) {
			if ra, rb := rank[a.Kind], rank[b.Kind]; ra != rb {
				return ra < rb
			}
			if a.Kind == types.NamespaceKind && b.Kind == types.NamespaceKind && (a.Group == "" || b.Group == "") {
				return legacyGVKString(a.Gvk) > legacyGVKString(b.Gvk)
			}
			return legacyGVKString(a.Gvk) < legacyGVKString(b.Gvk)
		}
		return legacyIDString(a) < legacyIDString(b)
	})
}

var legacyOrderFirst = []string{
	"Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition",
	"ServiceAccount", "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding",
	"ClusterRoleBinding", "ConfigMap", "Secret", "Endpoints", "Service",
	"LimitRange", "PriorityClass", "PersistentVolume", "PersistentVolumeClaim",
	"Deployment", "StatefulSet", "CronJob", "PodDisruptionBudget",
}

var legacyOrderLast = []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}

func legacyGVKString(x resid.Gvk) string {
	g, v, k := x.Group, x.Version, x.Kind
	if g == "" {
		g = "~G"
	}
	if v == "" {
		v = "~V"
	}
	if k == "" {
		k = "~K"
	}
	return g + "_" + v + "_" + k
}

func legacyIDString(id resid.ResId) string {
	ns, nm := id.Namespace, id.Name
	if ns == "" {
		ns = "~X"
	}
	if nm == "" {
		nm = "~N"
	}
	return id.Gvk.String() + "|" + ns + "|" + nm
}

// refusedKinds are left to krusty: kinds named by the namespace
// transformer's default field specs (Namespace, APIService,
// CustomResourceDefinition), the (Cluster)RoleBindings whose subjects it
// rewrites, and kinds whose name references are maps that the name
// back-reference fixer completes with a namespace (role binding subjects,
// webhook services, a Node's config source, a StorageClass's secretRef).
var refusedKinds = map[string]bool{
	"Namespace": true, "APIService": true, "CustomResourceDefinition": true,
	"RoleBinding": true, "ClusterRoleBinding": true,
	"ValidatingWebhookConfiguration": true, "MutatingWebhookConfiguration": true,
	"Node": true, "StorageClass": true,
}

// kustomizeAnnotations are prefixes of annotations through which kustomize
// passes state between its steps (previous names, hash suffixes, local
// config, Helm output); a resource that carries one is left to krusty.
var kustomizeAnnotations = []string{
	konfig.ConfigAnnoDomain + "/", "config.kubernetes.io/", "alpha.config.kubernetes.io/", "kustomize.config.k8s.io/",
}

type fastBuilder struct {
	fsys filesys.FileSystem
	root string            // the overlay, held in tree
	tree map[string][]byte // by slash path relative to root
	rf   *resource.Factory
}

// inTree returns p's path in the tree when p lies in the overlay, which
// Build shows from memory.
func (b *fastBuilder) inTree(p string) (string, bool) {
	rel, err := filepath.Rel(b.root, p)
	if err != nil || !filepath.IsLocal(rel) {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

// load reads file as kustomize's root-only loader does: the file must lie
// in or below dir once symbolic links are resolved.
func (b *fastBuilder) load(dir, file string) ([]byte, bool) {
	if filepath.IsAbs(file) || strings.Contains(file, "://") {
		return nil, false
	}
	p := filepath.Join(dir, file)
	if rel, in := b.inTree(p); in {
		data, ok := b.tree[rel]
		return data, ok && filepath.IsLocal(file)
	}
	if _, in := b.inTree(dir); in {
		return nil, false
	}
	root, _, err := b.fsys.CleanedAbs(dir)
	if err != nil {
		return nil, false
	}
	d, f, err := b.fsys.CleanedAbs(p)
	if err != nil || f == "" || !d.HasPrefix(root) {
		return nil, false
	}
	data, err := b.fsys.ReadFile(d.Join(f))
	return data, err == nil
}

// subdir resolves a resource entry that names a directory, as the loader's
// New does; it refuses remote bases and a directory that contains one
// already visited (kustomize's cycle check).
func (b *fastBuilder) subdir(dir, entry string, visited []string) (string, bool) {
	if filepath.IsAbs(entry) || strings.ContainsAny(entry, ":@?") || strings.HasPrefix(strings.ToLower(entry), "github.com") {
		return "", false
	}
	for _, seg := range strings.Split(filepath.ToSlash(entry), "/") {
		if seg != ".." && strings.Contains(seg, "..") {
			return "", false
		}
	}
	p := filepath.Join(dir, entry)
	if _, in := b.inTree(p); in {
		return "", false // the overlay holds files only
	}
	d, f, err := b.fsys.CleanedAbs(p)
	if err != nil || f != "" {
		return "", false
	}
	for _, v := range visited {
		if filesys.ConfirmedDir(v).HasPrefix(d) {
			return "", false
		}
	}
	return string(d), true
}

// kustomization reads dir's kustomization file; it must be the only one
// and ask for nothing but resources, a namespace and (at the top) patches
// by path.
func (b *fastBuilder) kustomization(dir string, top bool) (*types.Kustomization, bool) {
	var data []byte
	found := 0
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		if d, ok := b.load(dir, name); ok {
			data, found = d, found+1
		}
	}
	if found != 1 {
		return nil, false
	}
	k := &types.Kustomization{}
	if err := k.Unmarshal(data); err != nil {
		return nil, false
	}
	rest := *k
	rest.TypeMeta, rest.MetaData, rest.Namespace, rest.Resources = types.TypeMeta{}, nil, "", nil
	if top {
		for _, p := range k.Patches {
			if p.Path == "" || p.Patch != "" || p.Target != nil || p.Options != nil {
				return nil, false
			}
		}
		rest.Patches = nil
	}
	if !reflect.DeepEqual(rest, types.Kustomization{}) {
		return nil, false
	}
	k.FixKustomization()
	if len(k.EnforceFields()) > 0 || k.CheckEmpty() != nil || k.Kind != types.KustomizationKind {
		return nil, false
	}
	return k, true
}

// target accumulates dir's kustomization as KustTarget.accumulateTarget
// does: its resources in order, each id new, then its patches and its
// namespace.
func (b *fastBuilder) target(dir string, visited []string, top bool) ([]*resource.Resource, bool) {
	if len(visited) > 20 {
		return nil, false
	}
	k, ok := b.kustomization(dir, top)
	if !ok {
		return nil, false
	}
	var rs []*resource.Resource
	ids := map[idKey]int{}
	add := func(more []*resource.Resource) bool {
		for _, r := range more {
			key := keyOf(r.CurId())
			if ids[key] > 0 {
				return false // "may not add resource with an already registered id"
			}
			ids[key]++
			rs = append(rs, r)
		}
		return true
	}
	for _, entry := range k.Resources {
		if data, ok := b.load(dir, entry); ok {
			more, ok := b.parse(data)
			if !ok || !add(more) {
				return nil, false
			}
			continue
		}
		sub, ok := b.subdir(dir, entry, visited)
		if !ok {
			return nil, false
		}
		more, ok := b.target(sub, append(visited[:len(visited):len(visited)], sub), false)
		if !ok || !add(more) {
			return nil, false
		}
	}
	if top && !b.patch(dir, k.Patches, rs) {
		return nil, false
	}
	if k.Namespace != "" && !setNamespace(k.Namespace, rs, ids) {
		return nil, false
	}
	return rs, true
}

// parse reads a file's resources with krusty's resource factory.
func (b *fastBuilder) parse(data []byte) ([]*resource.Resource, bool) {
	rs, err := b.rf.SliceFromBytes(data)
	if err != nil {
		return nil, false
	}
	for _, r := range rs {
		if r.GetKind() == "" || r.GetName() == "" || refusedKinds[r.GetKind()] {
			return nil, false
		}
		for k := range r.GetAnnotations() {
			for _, prefix := range kustomizeAnnotations {
				if strings.HasPrefix(k, prefix) {
					return nil, false
				}
			}
		}
	}
	return rs, true
}

// patch applies each strategic merge patch to the one resource whose
// current or previous id is the patch's, as the patch transformer does
// without a target.
func (b *fastBuilder) patch(dir string, patches []types.Patch, rs []*resource.Resource) bool {
	if len(patches) == 0 {
		return true
	}
	byID := map[idKey][]*resource.Resource{}
	for _, r := range rs {
		seen := map[idKey]bool{}
		for _, id := range append(r.PrevIds(), r.CurId()) {
			if key := keyOf(id); !seen[key] {
				seen[key] = true
				byID[key] = append(byID[key], r)
			}
		}
	}
	for _, p := range patches {
		data, ok := b.load(dir, p.Path)
		if !ok || strings.HasPrefix(string(data), "[") { // a JSON 6902 patch
			return false
		}
		sms, ok := b.parse(data)
		if !ok || len(sms) == 0 {
			return false
		}
		for _, sm := range sms {
			targets := byID[keyOf(sm.OrgId())]
			if len(targets) != 1 {
				return false
			}
			t := targets[0]
			before := t.CurId()
			if err := t.ApplySmPatch(sm); err != nil || t.IsNilOrEmpty() || t.CurId() != before {
				return false
			}
		}
	}
	return true
}

// setNamespace runs kustomize's namespace transformer over rs, one
// resource at a time, and refuses a namespace that gives two resources
// one id ("namespace transformation produces ID conflict"). ids counts the
// resources' current ids.
func setNamespace(ns string, rs []*resource.Resource, ids map[idKey]int) bool {
	// The default field specs (api/internal/konfig/builtinpluginconsts/
	// namespace.go) name only refusedKinds; metadata.namespace is set by
	// the filter itself.
	p := &builtins.NamespaceTransformerPlugin{
		ObjectMeta:             types.ObjectMeta{Namespace: ns},
		SetRoleBindingSubjects: namespace.DefaultSubjectsOnly,
	}
	for _, r := range rs {
		old := keyOf(r.CurId())
		one := resmap.New()
		if one.Append(r) != nil || p.Transform(one) != nil {
			return false
		}
		key := keyOf(r.CurId())
		ids[old]--
		ids[key]++
		if ids[key] != 1 {
			return false
		}
	}
	return true
}

// idKey is a resid.ResId as ResId.Equals compares it: group, version,
// kind, name and effective namespace.
type idKey struct{ group, version, kind, name, namespace string }

func keyOf(id resid.ResId) idKey {
	return idKey{id.Group, id.Version, id.Kind, id.Name, id.EffectiveNamespace()}
}
