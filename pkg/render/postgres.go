package render

import (
	"path"

	"github.com/bakery-ia/tlsgen/pkg/model"
	"github.com/bakery-ia/tlsgen/templates"
)

// postgresShared is what every PostgreSQL Deployment shares: its
// configuration (one ConfigMap) and the init container's script.
type postgresShared struct {
	config map[string]string
	script string
}

// postgres renders one database: the shared configuration the first time,
// its Secret (once per Secret), and the patch of its Deployment.
func (r *renderer) postgres(s model.Server) error {
	pg := r.in.Inventory.Postgres
	if r.pg == nil {
		shared, err := r.postgresConfig(pg)
		if err != nil {
			return err
		}
		r.pg = shared
	}
	sum, err := r.serverSecret(s)
	if err != nil {
		return err
	}
	r.patch(s.Name, postgresTemplate(pg, s, r.container(s), r.pg.script, podChecksum(sum, r.pg.config)))
	return nil
}

func (r *renderer) postgresConfig(pg *model.Postgres) (*postgresShared, error) {
	inv := r.in.Inventory
	ciphers, source := r.ciphers()
	conf, err := templates.Execute("postgresql.conf", map[string]string{
		"Port":         model.PostgresPort,
		"HBAFile":      configDir + "/pg_hba.conf",
		"Dir":          tlsDir,
		"MinVersion":   inv.TLS.Profile.Minimum(),
		"Ciphers":      ciphers,
		"CipherSource": source,
	})
	if err != nil {
		return nil, err
	}
	hba, err := templates.Execute("pg_hba.conf", map[string]string{"ClientAuth": string(pg.ClientAuth), "Method": hbaMethod(pg.ClientAuth)})
	if err != nil {
		return nil, err
	}
	config := map[string]string{"postgresql.conf": conf, "pg_hba.conf": hba}
	r.object(path.Join("configmaps", pg.ConfigMapName+".yaml"), configMap(pg.ConfigMapName, config))

	script, err := templates.Execute("fix-tls-permissions.sh", map[string]any{"Source": tlsSourceDir, "Dir": tlsDir, "UID": pg.RunAsUID()})
	if err != nil {
		return nil, err
	}
	return &postgresShared{config: config, script: script}, nil
}

// hbaMethod is the method of the hostssl line: the password, scram-sha-256
// (W1), asked for a certificate as well with clientcert=verify-full, which
// also compares its CN with the user; or the certificate alone, whose cert
// method always does.
func hbaMethod(a model.PostgresClientAuth) string {
	switch a {
	case model.PostgresClientAuthVerifyFull:
		return scramSHA256 + " clientcert=verify-full"
	case model.PostgresClientAuthCert:
		return "cert"
	}
	return scramSHA256
}

func postgresTemplate(pg *model.Postgres, s model.Server, container, script, sum string) map[string]any {
	uid := pg.RunAsUID()
	return map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{ChecksumKey: sum}},
		"spec": map[string]any{
			// fsGroup as in the guide (R6); OnRootMismatch spares a large data
			// volume the recursive chown at every start.
			"securityContext": map[string]any{"fsGroup": uid, "fsGroupChangePolicy": "OnRootMismatch"},
			"initContainers": []any{map[string]any{
				"name":            InitName,
				"image":           pg.InitImage,
				"command":         []string{"sh", "-c"},
				"args":            []string{script},
				"securityContext": map[string]any{"runAsUser": 0},
				"volumeMounts": []any{
					map[string]any{"name": sourceVolume, "mountPath": tlsSourceDir, "readOnly": true},
					map[string]any{"name": writableVolume, "mountPath": tlsDir},
				},
			}},
			"containers": []any{map[string]any{
				"name":    container,
				"command": []string{"docker-entrypoint.sh", "-c", "config_file=" + configDir + "/postgresql.conf"},
				"volumeMounts": []any{
					map[string]any{"name": writableVolume, "mountPath": tlsDir},
					map[string]any{"name": configVolume, "mountPath": configDir},
				},
			}},
			"volumes": []any{
				map[string]any{"name": sourceVolume, "secret": map[string]any{"secretName": s.SecretName}},
				// In memory: the key never lands on the node's disk.
				map[string]any{"name": writableVolume, "emptyDir": map[string]any{"medium": "Memory", "sizeLimit": "1Mi"}},
				map[string]any{"name": configVolume, "configMap": map[string]any{"name": pg.ConfigMapName}},
			},
		},
	}
}
