package render

import (
	"fmt"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Build runs kustomize over tree as if it were written at dir in fsys, and
// returns the built resources; their AsYaml is what `kustomize build dir`
// prints. fsys is only read; the tree lives in memory, so an overlay can be
// checked before anything is written.
//
// A tree as Render writes it over a plain base is built by fastBuild, in
// linear time and to the same bytes; anything else by krusty.
func Build(fsys filesys.FileSystem, dir string, tree Tree) (resmap.ResMap, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if m, ok := fastBuild(fsys, abs, tree); ok {
		return m, nil
	}
	return krustyBuild(fsys, abs, tree)
}

// krustyBuild runs kustomize over tree at abs.
func krustyBuild(fsys filesys.FileSystem, abs string, tree Tree) (resmap.ResMap, error) {
	upper := filesys.MakeFsInMemory()
	for _, f := range tree {
		if err := upper.WriteFile(filepath.Join(abs, filepath.FromSlash(f.Path)), f.Data); err != nil {
			return nil, err
		}
	}
	m, err := kustomizer().Run(overlay{lower: fsys, upper: upper, dir: abs}, abs)
	if err != nil {
		return nil, fmt.Errorf("kustomize build: %w", err)
	}
	return m, nil
}

// BuildBase runs kustomize over the base directory.
func BuildBase(fsys filesys.FileSystem, dir string) (resmap.ResMap, error) {
	m, err := kustomizer().Run(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build: %w", err)
	}
	return m, nil
}

// kustomizer orders resources as the kustomize command does by default
// (--reorder legacy: namespaces, then ConfigMaps and Secrets, then the rest),
// so what render prints is what `kustomize build` prints.
func kustomizer() *krusty.Kustomizer {
	opts := krusty.MakeDefaultOptions()
	opts.Reorder = krusty.ReorderOptionLegacy
	return krusty.MakeKustomizer(opts)
}

// overlay shows the in-memory tree at dir and fsys everywhere else, so the
// tree's kustomization can reach its base on disk.
type overlay struct {
	lower, upper filesys.FileSystem
	dir          string
}

func (o overlay) pick(p string) filesys.FileSystem {
	if abs, err := filepath.Abs(p); err == nil && (abs == o.dir || strings.HasPrefix(abs, o.dir+string(filepath.Separator))) {
		return o.upper
	}
	return o.lower
}

func (o overlay) Create(p string) (filesys.File, error)     { return o.pick(p).Create(p) }
func (o overlay) Mkdir(p string) error                      { return o.pick(p).Mkdir(p) }
func (o overlay) MkdirAll(p string) error                   { return o.pick(p).MkdirAll(p) }
func (o overlay) RemoveAll(p string) error                  { return o.pick(p).RemoveAll(p) }
func (o overlay) Open(p string) (filesys.File, error)       { return o.pick(p).Open(p) }
func (o overlay) IsDir(p string) bool                       { return o.pick(p).IsDir(p) }
func (o overlay) ReadDir(p string) ([]string, error)        { return o.pick(p).ReadDir(p) }
func (o overlay) Exists(p string) bool                      { return o.pick(p).Exists(p) }
func (o overlay) ReadFile(p string) ([]byte, error)         { return o.pick(p).ReadFile(p) }
func (o overlay) WriteFile(p string, data []byte) error     { return o.pick(p).WriteFile(p, data) }
func (o overlay) Glob(pattern string) ([]string, error)     { return o.pick(pattern).Glob(pattern) }
func (o overlay) Walk(p string, fn filepath.WalkFunc) error { return o.pick(p).Walk(p, fn) }
func (o overlay) CleanedAbs(p string) (filesys.ConfirmedDir, string, error) {
	return o.pick(p).CleanedAbs(p)
}
