package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bakery-ia/tlsgen/internal/store"
	"github.com/bakery-ia/tlsgen/pkg/pki"
	"github.com/bakery-ia/tlsgen/pkg/render"
)

// writeFS is where every write goes; tests put a file system there that
// fails or stops after a given number of operations.
var writeFS store.FS = store.OS{}

// mkdirs creates dir and its missing parents with perm, and returns the
// directories it created, outermost first, so that a render that stops
// can remove them again.
func mkdirs(dir string, perm fs.FileMode) (created []string, err error) {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || d == filepath.Dir(d) {
			break
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := writeFS.Mkdir(missing[i], perm); err != nil && !errors.Is(err, fs.ErrExist) {
			return created, err
		}
		created = append(created, missing[i])
	}
	return created, nil
}

// removeEmpty removes the directories mkdirs created, innermost first,
// where they are still empty.
func removeEmpty(created []string) {
	for i := len(created) - 1; i >= 0; i-- {
		os.Remove(created[i]) // fails, as it should, on a directory that holds something
	}
}

// lockDir creates dir when missing and takes the lock on it, so that two
// renders cannot interleave their reads and writes; a second one waits.
// what names the directory in messages.
func lockDir(dir, what string, perm fs.FileMode) (unlock func(), created []string, err error) {
	created, err = mkdirs(dir, perm)
	if err != nil {
		removeEmpty(created)
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is said in front
		}
		return nil, nil, &inputError{err: fmt.Errorf("%s: cannot create %s: %w", dir, what, err)}
	}
	unlock, err = store.Lock(dir)
	if err != nil {
		removeEmpty(created)
		return nil, nil, &inputError{err: fmt.Errorf("%s: cannot lock %s: %w", dir, what, err)}
	}
	return unlock, created, nil
}

// fixModes tightens what tlsgen owns in the PKI directory: every directory
// to 0700 and every private key to 0600. It returns a warning for each file
// it changed: a key others could read may have been copied.
func fixModes(dir string) (warnings []string, err error) {
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var want fs.FileMode
		switch {
		case d.IsDir():
			want = 0o700
		case d.Type().IsRegular() && pki.IsKeyFile(d.Name()):
			want = 0o600
		default:
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if have := info.Mode().Perm(); have&^want != 0 {
			if err := writeFS.Chmod(p, want); err != nil {
				return err
			}
			what := "the private key"
			if d.IsDir() {
				what = "the PKI directory"
			}
			warnings = append(warnings, fmt.Sprintf("%s: %s was %04o, readable by others; set to %04o", p, what, have, want))
		}
		return nil
	})
	return warnings, err
}

// checkOwned refuses an output directory that holds anything tlsgen did
// not write: tlsgen replaces the directory, and must never remove someone
// else's file. It looks at each entry's type before opening it (a named
// pipe would block, /dev/zero never end) and reads a regular file's first
// line only. name is dir as the user wrote it.
func checkOwned(dir, name string) error {
	const shown = 3
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
		if d.Type().IsRegular() && hasHeader(p) {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		foreign = append(foreign, rel)
		if len(foreign) > shown {
			return fs.SkipAll
		}
		return nil
	})
	if err != nil {
		return &inputError{err: fmt.Errorf("%s: %w", name, err)}
	}
	if len(foreign) > shown {
		foreign = append(foreign[:shown], "and more")
	}
	if len(foreign) > 0 {
		return invalid("tlsgen owns its output directory: give -o a new or empty directory",
			"%s: holds files tlsgen did not write (%s); refusing to write there", name, strings.Join(foreign, ", "))
	}
	return nil
}

// hasHeader reports whether the regular file p starts with the line every
// file tlsgen writes starts with.
func hasHeader(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, len(render.Header))
	_, err = io.ReadFull(f, buf)
	return err == nil && string(buf) == render.Header
}

// checkTargets refuses a tree whose files would land where something that
// is not a regular file stands (a directory named like a Secret): it is
// someone else's, even when empty.
func checkTargets(dir, name string, tree render.Tree) error {
	for _, f := range tree {
		st, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err == nil && !st.Mode().IsRegular() {
			return invalid("tlsgen owns its output directory: give -o a new or empty directory",
				"%s: %s is not a regular file, and tlsgen writes a file there; refusing to write there", name, f.Path)
		}
	}
	return nil
}

// writeError says which directory a write failed in. A directory tlsgen may
// not write is invalid input (exit 2); a full disk is a failure (exit 1).
func writeError(what, dir string, err error) error {
	err = fmt.Errorf("writing %s %s: %w", what, dir, err)
	if errors.Is(err, fs.ErrPermission) {
		return &inputError{err: err}
	}
	return err
}
