// Command tlsgen renders TLS for a namespace of PostgreSQL databases and a
// Redis, from one inventory file, as a kustomize overlay.
package main

import (
	"os"
	"runtime/debug"
)

func main() {
	// A render lives for a fraction of a second and allocates a few tens of
	// megabytes, most of it in kustomize: collecting that garbage costs a
	// quarter of the run. Collect only past 1 GiB.
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(1 << 30)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
