// Package store writes the PKI directory and the overlay tree so that a
// crash, a kill or a full disk at any moment leaves the old state or the new
// one, never a mix and never a lost key.
//
// Both writers stage everything first, durably, where no reader looks, and
// then make it visible with renames:
//   - the PKI directory through a redo log: the new files are written under
//     .tlsgen-txn/, which is renamed to .tlsgen-commit/ (the commit point),
//     and then moved into place one by one; RecoverPKI finishes a committed
//     transaction and discards an uncommitted one, so a certificate and its
//     key always change together;
//   - the overlay as a whole: a complete sibling directory is written and
//     then swapped in with one atomic exchange of the two directories, so a
//     reader of the directory, Git included, sees the old tree or the new.
//
// All writes go through FS, so tests can stop the writer after any
// operation (a kill) or fail a write (a full disk).
package store

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// FS is every operation that changes the file system. Reads go to the os
// package directly: they cannot leave anything half-done.
type FS interface {
	// WriteFile creates name, which must not exist, and writes data; SyncFS
	// makes it durable.
	WriteFile(name string, data []byte, perm fs.FileMode) error
	Mkdir(name string, perm fs.FileMode) error
	Rename(oldpath, newpath string) error
	// Exchange swaps two paths atomically; errors.ErrUnsupported when the
	// file system cannot.
	Exchange(a, b string) error
	Link(oldname, newname string) error
	Remove(name string) error
	RemoveAll(name string) error
	Chmod(name string, mode fs.FileMode) error
	// SyncDir makes the entries of a directory (renames, new files) durable.
	SyncDir(name string) error
	// SyncFS makes everything written on the file system that holds dir
	// durable: the files and directories a writer staged, in one call
	// rather than one fsync per file (a thousand databases write five
	// thousand files).
	SyncFS(dir string) error
}

// OS is the real file system.
type OS struct{}

func (OS) WriteFile(name string, data []byte, perm fs.FileMode) error {
	// Plain system calls: os.OpenFile would also register the file with
	// the runtime's poller, three more calls per file that a sandboxed
	// kernel makes dear, for four thousand files.
	fd, err := unix.Open(name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, uint32(perm))
	if err != nil {
		return &fs.PathError{Op: "open", Path: name, Err: err}
	}
	fail := func(op string, err error) error {
		unix.Close(fd)
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	// The umask must not narrow what tlsgen means: 0644 and 0600.
	if perm&^umask != perm {
		if err := unix.Fchmod(fd, uint32(perm)); err != nil {
			return fail("chmod", err)
		}
	}
	for b := data; len(b) > 0; {
		n, err := unix.Write(fd, b)
		if err != nil {
			return fail("write", err)
		}
		b = b[n:]
	}
	if err := unix.Close(fd); err != nil {
		return &fs.PathError{Op: "close", Path: name, Err: err}
	}
	return nil
}

// umask is the process's file mode creation mask, read once.
var umask = func() fs.FileMode {
	m := unix.Umask(0)
	unix.Umask(m)
	return fs.FileMode(m)
}()

func (OS) Mkdir(name string, perm fs.FileMode) error {
	if err := os.Mkdir(name, perm); err != nil {
		return err
	}
	return os.Chmod(name, perm) // past the umask
}

func (OS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

func (OS) Exchange(a, b string) error {
	err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP) {
		return errors.ErrUnsupported
	}
	if err != nil {
		return &os.LinkError{Op: "exchange", Old: a, New: b, Err: err}
	}
	return nil
}

func (OS) Link(oldname, newname string) error        { return os.Link(oldname, newname) }
func (OS) Remove(name string) error                  { return os.Remove(name) }
func (OS) RemoveAll(name string) error               { return os.RemoveAll(name) }
func (OS) Chmod(name string, mode fs.FileMode) error { return os.Chmod(name, mode) }

// SyncFS is syncfs(2), which since Linux 5.8 reports the write-back errors
// of the files it flushes, as fsync does.
func (OS) SyncFS(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return &fs.PathError{Op: "syncfs", Path: dir, Err: err}
	}
	return nil
}

func (OS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// exists reports whether p exists, without following a final symlink.
func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// mkdirAll creates dir and its missing parents with perm, through fsys.
func mkdirAll(fsys FS, dir string, perm fs.FileMode) error {
	if st, err := os.Stat(dir); err == nil {
		if !st.IsDir() {
			return &fs.PathError{Op: "mkdir", Path: dir, Err: unix.ENOTDIR}
		}
		return nil
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := mkdirAll(fsys, parent, perm); err != nil {
			return err
		}
	}
	if err := fsys.Mkdir(dir, perm); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// Lock takes an exclusive lock on the directory dir, which must exist,
// waiting for another tlsgen that holds it. flock on the directory itself
// leaves no lock file behind. The lock goes with the process: a killed
// render holds none.
func Lock(dir string) (unlock func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, &fs.PathError{Op: "lock", Path: dir, Err: err}
	}
	return func() { f.Close() }, nil
}

// concurrently runs f(0) to f(n-1) with a few at a time and returns the
// error of the lowest i that failed. Creating a file costs a round trip to
// the file system's journal that the CPU only waits for (half a
// millisecond on a virtual disk): a thousand databases create four
// thousand files, and overlapping those waits is what makes a cold render
// take seconds rather than ten.
func concurrently(n int, f func(i int) error) error {
	const workers = 16
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for i := range next {
				errs[i] = f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
