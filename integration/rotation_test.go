package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bakery-ia/tlsgen/internal/gen"
	"github.com/bakery-ia/tlsgen/internal/servers"
	"github.com/bakery-ia/tlsgen/pkg/pki"
	"github.com/bakery-ia/tlsgen/pkg/render"
	"github.com/redis/go-redis/v9"
)

// TestCARotationWithoutAnOutage runs a CA rotation (issue 9) as a cluster
// lives it: after each phase, PostgreSQL and Redis restart from what the
// render wrote, and clients that still hold the CA bundle of the phase
// before connect with full verification (pgx, psql, go-redis). A client
// that only ever trusted the old CA fails once the servers switched, as the
// README says. It also counts the Deployments each phase rolls.
func TestCARotationWithoutAnOutage(t *testing.T) {
	t.Parallel()
	acct := servers.PostgresAccount(t)
	inv, data := genInventory(gen.PerDatabase(), gen.UID(int64(acct.UID)))
	stacks := []*stack{renderStack(t, inv, data, nil, time.Now())}
	phases := []string{"start", "switch", "finish"}
	o := pki.Options{}
	ca, reqs := render.Requests(inv)
	for _, phase := range phases {
		// The phase runs on a copy: each stack keeps the PKI directory it
		// rendered from, for tlsgen verify below.
		prev := stacks[len(stacks)-1]
		next := t.TempDir()
		if err := os.CopyFS(next, os.DirFS(prev.pkiDir)); err != nil {
			t.Fatal(err)
		}
		fsys := os.DirFS(next)
		var files []pki.File
		var err error
		switch phase {
		case "start":
			files, err = o.RotateStart(fsys, ca, time.Now())
		case "switch":
			files, err = o.RotateSwitch(fsys)
		case "finish":
			files, err = o.RotateFinish(fsys, reqs)
		}
		if err != nil {
			t.Fatalf("rotate-ca %s: %v", phase, err)
		}
		writePKI(t, next, files)
		stacks = append(stacks, renderStack(t, inv, data, os.DirFS(next), time.Now()))
	}

	// Every phase rolls every Deployment: the bundle changes at start and
	// finish, the certificates at switch.
	for i, phase := range phases {
		rolled, patched := 0, 0
		for name, d := range stacks[i+1].deployments {
			sum := d.Spec.Template.Annotations[render.ChecksumKey]
			if sum == "" {
				continue // not a server: the base's own
			}
			patched++
			if sum != stacks[i].deployments[name].Spec.Template.Annotations[render.ChecksumKey] {
				rolled++
			}
		}
		if rolled != patched || patched != 3 {
			t.Errorf("rotate-ca %s: %d of %d patched Deployments roll; the README says every one", phase, rolled, patched)
		}
	}

	original := stacks[0].caBundle
	for i, phase := range phases {
		s := stacks[i+1]
		t.Run("after "+phase, func(t *testing.T) {
			pg := startPostgres(t, acct, s.layoutPostgres(t, acct, "tenant-db"))
			r := s.startRedis(t, nil)
			host := s.inv.ServiceFQDN(s.database(t, "tenant-db").Service)
			redisHost := s.inv.ServiceFQDN(s.inv.Redis.Service)
			for _, held := range []struct{ name, bundle string }{{"the bundle of the phase before", stacks[i].caBundle}, {"this phase's bundle", s.caBundle}} {
				if err := pgxVerifyFull(host, pg.Port, held.bundle); err != nil {
					t.Errorf("pgx with %s: %v", held.name, err)
				}
				if err := psqlVerifyFull(host, pg.Port, held.bundle); err != nil {
					t.Errorf("psql with %s: %v", held.name, err)
				}
				if err := redisVerify(r.Addr(), redisHost, held.bundle); err != nil {
					t.Errorf("go-redis with %s: %v", held.name, err)
				}
			}
			// tlsgen verify trusts what the bundles trust, the next CA too.
			runVerify(t, s, "--target", "tenant-db="+pg.Addr(), "--target", s.inv.Redis.Name+"="+r.Addr()).wantExit(t, 0)

			// A client that never took a new bundle.
			err := pgxVerifyFull(host, pg.Port, original)
			rerr := redisVerify(r.Addr(), redisHost, original)
			if phase == "start" {
				if err != nil || rerr != nil {
					t.Errorf("a client with the original bundle fails before the switch: %v; %v", err, rerr)
				}
			} else if err == nil || !strings.Contains(err.Error(), "unknown authority") || rerr == nil {
				t.Errorf("a client that only trusts the old CA connects after %s (pgx: %v, go-redis: %v); it should fail, as documented", phase, err, rerr)
			}
		})
	}
}

func pgxVerifyFull(host string, port int, bundle string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgConnect(ctx, host, port, "verify-full", bundle)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var one int
	return conn.QueryRow(ctx, "SELECT 1").Scan(&one)
}

// psqlVerifyFull connects with libpq: host is the name the certificate is
// checked against, hostaddr where the test server listens.
func psqlVerifyFull(host string, port int, bundle string) error {
	dsn := fmt.Sprintf("host=%s hostaddr=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=verify-full sslrootcert=%s connect_timeout=5", host, port, bundle)
	cmd := exec.Command("psql", dsn, "-tAc", "SELECT 1")
	cmd.Env = append(os.Environ(), "PGPASSWORD="+password)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "1" {
		return fmt.Errorf("psql: %v: %s", err, out)
	}
	return nil
}

func redisVerify(addr, host, bundle string) error {
	data, err := os.ReadFile(bundle)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(data)
	c := redis.NewClient(&redis.Options{Addr: addr, Password: password, MaxRetries: -1, DialTimeout: 5 * time.Second, DisableIdentity: true,
		TLSConfig: &tls.Config{RootCAs: pool, ServerName: host}})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := c.Ping(ctx).Result()
	if err == nil && got != "PONG" {
		err = fmt.Errorf("PING = %q", got)
	}
	return err
}
