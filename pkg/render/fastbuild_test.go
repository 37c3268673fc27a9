package render_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bakery-ia/tlsgen/internal/gen"
	"github.com/bakery-ia/tlsgen/pkg/render"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// buildBothWays builds tree with krusty, as `kustomize build` does, and
// with Build's fast path, and fails unless the fast path takes the tree and
// prints the same bytes.
func buildBothWays(t *testing.T, dir string, tree render.Tree) resmap.ResMap {
	t.Helper()
	fsys := filesys.MakeFsOnDisk()
	slow, err := render.KrustyBuild(fsys, dir, tree)
	if err != nil {
		t.Fatal(err)
	}
	fast, ok := render.FastBuild(fsys, dir, tree)
	if !ok {
		t.Fatal("the fast path refused the tree")
	}
	want, err := slow.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	got, err := fast.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the fast path differs from krusty:\n%s", firstDiff(want, got))
	}
	return fast
}

func TestTheFastPathBuildsWhatKrustyBuilds(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			inv := parseFile(t, tc.inventory)
			state := reconcileFixture(t, inv, tc.fixtures, fixedTime)
			treeDir := filepath.Join("../../golden", tc.name, "tree")
			tree, err := render.Render(render.Input{Inventory: inv, PKI: state, Base: relBase(t, treeDir, tc.inventory, inv)})
			if err != nil {
				t.Fatal(err)
			}
			buildBothWays(t, treeDir, tree)
		})
	}
	t.Run("50 databases in perDatabase mode, with Services, PVCs, volumes and sidecars", func(t *testing.T) {
		dir, tree, inv := manyCase(t, 50)
		built := buildBothWays(t, dir, tree)
		checkBuilt(t, inv, filepath.Join(dir, "../base"), built)
	})
}

// deployment is a Deployment named name running a container postgres, in
// namespace ns when it is not empty.
func deployment(name, ns string) string {
	meta := "name: " + name
	if ns != "" {
		meta += ", namespace: " + ns
	}
	return `apiVersion: apps/v1
kind: Deployment
metadata: {` + meta + `}
spec:
  selector: {matchLabels: {app: ` + name + `}}
  template:
    metadata: {labels: {app: ` + name + `}}
    spec:
      containers: [{name: postgres, image: postgres:17-alpine}]
`
}

// TestBuildLeavesTheRestToKrusty holds Build to krusty for bases the fast
// path does and does not take: the same bytes, or the same error.
func TestBuildLeavesTheRestToKrusty(t *testing.T) {
	service := "apiVersion: v1\nkind: Service\nmetadata: {name: auth-db-service}\nspec: {ports: [{port: 5432}]}\n"
	tests := []struct {
		name  string
		base  map[string]string
		fast  bool
		error string // krusty's, when it refuses the base
	}{
		{"a base in two directories that each set a namespace is built fast", map[string]string{
			"kustomization.yaml":      "namespace: outer\nresources: [apps, service.yaml]\n",
			"service.yaml":            service,
			"apps/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: inner\nresources: [d.yaml]\n",
			"apps/d.yaml":             deployment("auth-db", ""),
		}, true, ""},
		{"a List and a Deployment in namespace default are built fast", map[string]string{
			"kustomization.yaml": "resources: [list.yaml]\n",
			"list.yaml": "apiVersion: v1\nkind: List\nitems:\n- " + strings.ReplaceAll(strings.TrimSpace(deployment("auth-db", "default")), "\n", "\n  ") +
				"\n- " + strings.ReplaceAll(strings.TrimSpace(service), "\n", "\n  ") + "\n",
		}, true, ""},
		{"labels are left to krusty", map[string]string{
			"kustomization.yaml": "labels: [{pairs: {team: data}, includeSelectors: true}]\nresources: [d.yaml]\n",
			"d.yaml":             deployment("auth-db", ""),
		}, false, ""},
		{"a RoleBinding is left to krusty", map[string]string{
			"kustomization.yaml": "resources: [d.yaml, rb.yaml]\n",
			"d.yaml":             deployment("auth-db", ""),
			"rb.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: rb}\n" +
				"roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}\nsubjects: [{kind: ServiceAccount, name: default}]\n",
		}, false, ""},
		{"a local-config resource is left to krusty", map[string]string{
			"kustomization.yaml": "resources: [d.yaml, local.yaml]\n",
			"d.yaml":             deployment("auth-db", ""),
			"local.yaml":         "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: local, annotations: {config.kubernetes.io/local-config: \"true\"}}\n",
		}, false, ""},
		{"a Deployment whose file sets its namespace matches no patch", map[string]string{
			"kustomization.yaml": "resources: [d.yaml]\n",
			"d.yaml":             deployment("auth-db", "bakery-ia"),
		}, false, "no resource matches strategic merge patch"},
		{"two Deployments of one name in two namespaces conflict in the overlay", map[string]string{
			"kustomization.yaml": "resources: [d.yaml, e.yaml]\n",
			"d.yaml":             deployment("auth-db", ""),
			"e.yaml":             deployment("auth-db", "other"),
		}, false, "namespace transformation produces ID conflict"},
		{"two Deployments of one name in one namespace are refused", map[string]string{
			"kustomization.yaml": "resources: [d.yaml, e.yaml]\n",
			"d.yaml":             deployment("auth-db", ""),
			"e.yaml":             deployment("auth-db", ""),
		}, false, "may not add resource with an already registered id"},
		{"a file outside the base is refused", map[string]string{
			"kustomization.yaml": "resources: [../d.yaml]\n",
			"../d.yaml":          deployment("auth-db", ""),
		}, false, "is not in or below"},
	}
	inv := gen.Inventory(gen.Databases("auth-db"), gen.NoRedis())
	state := sharedKeyPKI(t, inv)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "project")
			for name, data := range tc.base {
				p := filepath.Join(dir, "base", filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			tree, err := render.Render(render.Input{Inventory: inv, PKI: state, Base: "../base"})
			if err != nil {
				t.Fatal(err)
			}
			overlay := filepath.Join(dir, ".tlsgen-build")
			fsys := filesys.MakeFsOnDisk()
			if _, ok := render.FastBuild(fsys, overlay, tree); ok != tc.fast {
				t.Errorf("the fast path took the tree: %v, want %v", ok, tc.fast)
			}
			want, wantErr := render.KrustyBuild(fsys, overlay, tree)
			got, err := render.Build(fsys, overlay, tree)
			if tc.error != "" {
				if wantErr == nil || !strings.Contains(wantErr.Error(), tc.error) {
					t.Fatalf("krusty: %v, want an error with %q", wantErr, tc.error)
				}
				if err == nil || err.Error() != wantErr.Error() {
					t.Fatalf("Build: %v\nwant krusty's %v", err, wantErr)
				}
				return
			}
			if wantErr != nil || err != nil {
				t.Fatalf("krusty: %v; Build: %v", wantErr, err)
			}
			if tc.fast {
				buildBothWays(t, overlay, tree)
			}
			wantYAML, _ := want.AsYaml()
			gotYAML, _ := got.AsYaml()
			if !bytes.Equal(gotYAML, wantYAML) {
				t.Fatalf("Build differs from krusty:\n%s", firstDiff(wantYAML, gotYAML))
			}
		})
	}
}

// kustomize's in-memory file system refuses a directory named with a space
// or a comma, so krusty cannot build the tree where the CLI puts it beside
// such an inventory; the fast path reads the tree from memory as it is.
func TestAnOverlayPathWithASpaceBuilds(t *testing.T) {
	inv := gen.Inventory(gen.Databases("db-0000"), gen.PerDatabase(), gen.NoRedis())
	tree, err := render.Render(render.Input{Inventory: inv, PKI: sharedKeyPKI(t, inv), Base: "../base"})
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for _, name := range []string{"plain", "with space", "with,comma"} {
		dir := filepath.Join(t.TempDir(), name)
		writeManyBase(t, filepath.Join(dir, "base"), inv)
		build := render.Build
		if name == "plain" {
			build = render.KrustyBuild
		}
		m, err := build(filesys.MakeFsOnDisk(), filepath.Join(dir, ".tlsgen-build"), tree)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := m.AsYaml()
		if err != nil {
			t.Fatal(err)
		}
		if want == nil {
			want = got
		} else if !bytes.Equal(got, want) {
			t.Errorf("%s: built differently:\n%s", name, firstDiff(want, got))
		}
	}
}
