// Package templates holds the text tlsgen renders into ConfigMaps and
// Deployments: postgresql.conf, pg_hba.conf and the init container's script.
// It lives at the top of the module because go:embed cannot reach "..".
package templates

import (
	"bytes"
	"embed"
	"text/template"
)

//go:embed *.tmpl
var files embed.FS

var all = template.Must(template.New("").Option("missingkey=error").ParseFS(files, "*.tmpl"))

// Execute renders the named template (its file name without .tmpl).
func Execute(name string, data any) (string, error) {
	var b bytes.Buffer
	if err := all.ExecuteTemplate(&b, name+".tmpl", data); err != nil {
		return "", err
	}
	return b.String(), nil
}
