// Command tlsgen renders TLS for a namespace of PostgreSQL databases and a
// Redis, from one inventory file, as a kustomize overlay.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
