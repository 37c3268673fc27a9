package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/bakery-ia/tlsgen/pkg/pki"
	"github.com/bakery-ia/tlsgen/pkg/render"
)

// lockDir takes an exclusive lock on the PKI directory, creating it when
// missing, so two renders cannot interleave their reads and writes. flock
// on the directory itself leaves no lock file behind.
func lockDir(dir string) (unlock func(), created bool, err error) {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		created = true
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, err
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil, false, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("locking %s: %w", dir, err)
	}
	return func() { f.Close() }, created, nil
}

// writeFile replaces path atomically: a temporary file in the same
// directory, then rename, so a reader never sees half a key.
func writeFile(path string, data []byte, mode fs.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// writePKI writes the files the PKI changed: keys 0600 in 0700 directories.
func writePKI(dir string, files []pki.File) error {
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		mode := fs.FileMode(0o644)
		if f.Private {
			mode = 0o600
		}
		if err := writeFile(p, f.Data, mode); err != nil {
			return fmt.Errorf("writing %s: %w", p, err)
		}
	}
	return nil
}

// checkOwned refuses an output directory that holds files tlsgen did not
// write: tlsgen removes what it no longer renders, and must never remove
// someone else's file.
func checkOwned(dir string) error {
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		return invalid("give -o a new or empty directory", "%s: is a file, not a directory", dir)
	}
	var foreign []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == dir {
				return fs.SkipAll
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil || !d.Type().IsRegular() || !ownedBy(data) {
			rel, _ := filepath.Rel(dir, p)
			foreign = append(foreign, rel)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(foreign) > 0 {
		shown := foreign
		if len(shown) > 3 {
			shown = append(shown[:3:3], fmt.Sprintf("and %d more", len(foreign)-3))
		}
		return invalid("tlsgen owns its output directory: give -o a new or empty directory",
			"%s: holds files tlsgen did not write (%s); refusing to write there", dir, strings.Join(shown, ", "))
	}
	return nil
}

// checkTargets refuses a tree whose files would land on something that is
// not a regular file (a directory named like a Secret, a symlink): writeTree
// would fail there half-way, after the PKI and the other files were written.
func checkTargets(dir string, tree render.Tree) error {
	for _, f := range tree {
		st, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err == nil && !st.Mode().IsRegular() {
			return invalid("tlsgen owns its output directory: give -o a new or empty directory",
				"%s: %s is not a regular file, and tlsgen writes a file there; refusing to write there", dir, f.Path)
		}
	}
	return nil
}

// writeTree makes dir hold exactly tree: unchanged files are left alone,
// changed ones replaced atomically, and files tlsgen wrote but no longer
// renders (a database dropped from the inventory) removed.
func writeTree(dir string, tree render.Tree) (changed, removed int, err error) {
	want := map[string]bool{}
	for _, f := range tree {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		want[p] = true
		if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, f.Data) {
			continue
		}
		mode := fs.FileMode(0o644)
		if strings.HasPrefix(f.Path, "secrets/") {
			mode = 0o600 // they hold private keys
		}
		if err := writeFile(p, f.Data, mode); err != nil {
			return changed, removed, fmt.Errorf("writing %s: %w", p, err)
		}
		changed++
	}
	var stale, dirs []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		} else if !want[p] {
			stale = append(stale, p)
		}
		return nil
	})
	if err != nil {
		return changed, removed, err
	}
	for _, p := range stale {
		if err := os.Remove(p); err != nil {
			return changed, removed, err
		}
		removed++
	}
	// Deepest first, so emptied parents go too; Remove fails on a non-empty one.
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range slices.Compact(dirs) {
		if d != dir {
			os.Remove(d)
		}
	}
	return changed, removed, nil
}
