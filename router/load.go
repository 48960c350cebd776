package router

import (
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/payroute/payroute/config"
)

// LoadFile reads the router section of the payroute configuration file at
// path, for a reload: the section is decoded over DefaultConfiguration the
// way the whole file is at start (strictly, unknown keys reported with
// file:line), the PAYROUTE_ROUTER_* variables of environ apply, it is
// validated, and a Source for the file is attached so later problems carry
// lines. The file's other sections are not decoded: they belong to
// components that cannot change without a restart, and are checked when
// the process starts.
func LoadFile(path string, environ []string) (Configuration, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Configuration{}, fmt.Errorf("router: %w", err)
	}
	return LoadBytes(path, data, environ)
}

// LoadBytes is LoadFile with the document given as data; name stands for
// the file name in messages.
func LoadBytes(name string, data []byte, environ []string) (Configuration, error) {
	root := sectionRoot(data)
	root.Elem().Field(0).Set(reflect.ValueOf(DefaultConfiguration()))
	if err := config.LoadBytes(name, data, routerEnv(environ), root.Interface()); err != nil {
		return Configuration{}, err
	}
	cfg := root.Elem().Field(0).Interface().(Configuration)
	return cfg.WithSource(NewSource(name, data)), nil
}

// ignoredSection stands for a top-level section that is not the router's:
// it accepts any YAML and keeps nothing.
type ignoredSection struct{}

// UnmarshalYAML ignores the section.
func (*ignoredSection) UnmarshalYAML(*yaml.Node) error { return nil }

// sectionRoot returns a pointer to a new struct with the router section
// as field 0 and one ignored field for every other top-level key of data,
// so config.LoadBytes decodes the router section strictly and skips the
// rest instead of calling it unknown. The struct is built per document
// because the other keys belong to the binary's root configuration, which
// this package does not know.
func sectionRoot(data []byte) reflect.Value {
	fields := []reflect.StructField{{
		Name: "Router", Type: reflect.TypeOf(Configuration{}),
		Tag: reflect.StructTag(`yaml:"` + ConfigKey + `"`),
	}}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) == nil && doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 && doc.Content[0].Kind == yaml.MappingNode {
		seen := map[string]bool{ConfigKey: true}
		top := doc.Content[0].Content
		for i := 0; i+1 < len(top); i += 2 {
			k := top[i]
			// A key the loader could not name as a field (empty, "-", or with
			// a comma) stays unknown and is reported, as at start.
			if k.Kind != yaml.ScalarNode || seen[k.Value] || k.Value == "" || k.Value == "-" || strings.Contains(k.Value, ",") {
				continue
			}
			seen[k.Value] = true
			fields = append(fields, reflect.StructField{
				Name: "Other" + strconv.Itoa(len(fields)), Type: reflect.TypeOf(ignoredSection{}),
				Tag: reflect.StructTag("yaml:" + strconv.Quote(k.Value)),
			})
		}
	}
	return reflect.New(reflect.StructOf(fields))
}

// routerEnv keeps the variables that address the router section.
func routerEnv(environ []string) []string {
	prefix := config.EnvName(ConfigKey) + "_"
	var out []string
	for _, kv := range environ {
		if strings.HasPrefix(kv, prefix) {
			out = append(out, kv)
		}
	}
	return out
}
