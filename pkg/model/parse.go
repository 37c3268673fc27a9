package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

// Error is an inventory that cannot be used: every problem found, each with
// its field path, and the file they were found in.
type Error struct {
	File string
	Errs field.ErrorList
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Errs))
	for i, fe := range e.Errs {
		lines[i] = e.File + ": " + describe(fe)
	}
	return strings.Join(lines, "\n")
}

// describe words a field error the way the rest of tlsgen speaks:
// `postgres.databases[3].name: "Auth_DB" is not a valid DNS-1123 label`.
func describe(fe *field.Error) string {
	switch fe.Type {
	case field.ErrorTypeRequired:
		msg := fe.Field + ": required"
		if fe.Detail != "" {
			msg += ": " + fe.Detail
		}
		return msg
	case field.ErrorTypeNotSupported:
		return fmt.Sprintf("%s: %q is not supported (%s)", fe.Field, fe.BadValue, fe.Detail)
	case field.ErrorTypeNotFound:
		return fe.Field + ": unknown field"
	default:
		return fe.Field + ": " + fe.Detail
	}
}

// Parse reads an inventory strictly, applies defaults and validates it. It
// reports every problem at once, as an *Error naming file.
func Parse(file string, data []byte) (*Inventory, error) {
	// YAMLToJSONStrict rejects duplicate keys; the generic decode finds
	// unknown fields with their paths (strict struct decoding has neither
	// paths nor line numbers, and stops at the first).
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, &Error{File: file, Errs: field.ErrorList{field.Invalid(nil, nil, "not valid YAML: "+trimYAML(err))}}
	}
	var generic any
	if err := json.Unmarshal(js, &generic); err != nil {
		return nil, &Error{File: file, Errs: field.ErrorList{field.Invalid(nil, nil, "not valid YAML: "+err.Error())}}
	}
	if _, ok := generic.(map[string]any); !ok {
		return nil, &Error{File: file, Errs: field.ErrorList{field.Invalid(nil, nil, "not an inventory: expected a YAML mapping with apiVersion: "+APIVersion)}}
	}
	unknown := unknownFields(nil, generic, reflect.TypeOf(Inventory{}))
	inv := &Inventory{}
	if err := json.Unmarshal(js, inv); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, &Error{File: file, Errs: append(unknown, field.Invalid(field.NewPath(te.Field), nil, fmt.Sprintf("expected %s, found %s", kindOf(te.Type), te.Value)))}
		}
		return nil, &Error{File: file, Errs: append(unknown, field.Invalid(nil, nil, err.Error()))}
	}
	inv.setDefaults()
	if errs := append(unknown, inv.validate()...); len(errs) > 0 {
		return nil, &Error{File: file, Errs: errs}
	}
	// Output never depends on the order the file lists databases in.
	if pg := inv.Postgres; pg != nil {
		slices.SortFunc(pg.Databases, func(a, b Database) int { return strings.Compare(a.Name, b.Name) })
	}
	return inv, nil
}

func trimYAML(err error) string {
	return strings.TrimPrefix(strings.TrimPrefix(err.Error(), "error converting YAML to JSON: "), "yaml: ")
}

func kindOf(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Slice:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "a mapping"
	case reflect.Int, reflect.Int64:
		return "a whole number"
	default:
		return "a " + t.Kind().String()
	}
}

var durationType = reflect.TypeOf(Duration{})

// unknownFields walks a decoded document beside the Go type it should fit
// and reports every key the type has no field for.
func unknownFields(path *field.Path, v any, t reflect.Type) field.ErrorList {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var errs field.ErrorList
	switch v := v.(type) {
	case map[string]any:
		if t.Kind() != reflect.Struct || t == durationType {
			return nil // a type mismatch: json.Unmarshal reports it
		}
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			if name != "" && name != "-" {
				fields[name] = t.Field(i).Type
			}
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				errs = append(errs, field.NotFound(path.Child(k), nil))
				continue
			}
			errs = append(errs, unknownFields(path.Child(k), v[k], ft)...)
		}
	case []any:
		if t.Kind() != reflect.Slice {
			return nil
		}
		for i, item := range v {
			errs = append(errs, unknownFields(path.Index(i), item, t.Elem())...)
		}
	}
	return errs
}
