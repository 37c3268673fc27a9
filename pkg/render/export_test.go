package render

import (
	"path/filepath"

	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// FastBuild and KrustyBuild are Build's two ways, for tests that hold one
// to the other.
func FastBuild(fsys filesys.FileSystem, dir string, tree Tree) (resmap.ResMap, bool) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		panic(err)
	}
	return fastBuild(fsys, abs, tree)
}

func KrustyBuild(fsys filesys.FileSystem, dir string, tree Tree) (resmap.ResMap, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		panic(err)
	}
	return krustyBuild(fsys, abs, tree)
}
