package pki

import (
	"errors"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// Stale lists the certificates the PKI directory holds that reqs no longer
// ask for (a database dropped from the inventory, the shared certificate
// after a switch to perDatabase), by name, and the files that removing
// them removes: every file in their directory, keys (sealed or not) with
// them. Left alone, a stale key would be reused silently if the name came
// back.
func Stale(fsys fs.FS, reqs []Request) (names []string, files []File, err error) {
	want := map[string]bool{"ca": true, path.Dir(NextCACertFile): true}
	for _, r := range reqs {
		want[r.Name] = true
	}
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == "." {
				return fs.SkipAll
			}
			return err
		}
		if !d.IsDir() || p == "." || strings.HasPrefix(d.Name(), ".") || want[p] {
			return nil
		}
		entries, err := fs.ReadDir(fsys, p)
		if err != nil {
			return err
		}
		holdsCert := slices.ContainsFunc(entries, func(e fs.DirEntry) bool {
			return !e.IsDir() && strings.HasSuffix(e.Name(), "-cert.pem") && e.Name() != "ca-cert.pem"
		})
		if !holdsCert {
			return nil
		}
		names = append(names, p)
		for _, e := range entries {
			if !e.IsDir() {
				files = append(files, File{Path: path.Join(p, e.Name()), Delete: true})
			}
		}
		return nil
	})
	return names, files, err
}
