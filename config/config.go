// Package config loads payroute's configuration: one YAML file plus
// environment overrides, on top of documented defaults, validated once at
// start.
//
// # Model
//
// Every component package owns a Configuration struct with yaml tags, doc
// comments that state each default, a DefaultConfiguration() constructor and,
// where there is something to check, a Validate() error method. The binary
// assembles those into one root struct, fills it with the defaults and calls
// Load. There is no global registry and no reflection-driven magic beyond
// struct tags, so a component's configuration can be read in one file.
//
// Loading happens in three steps, each of which reports every problem it
// finds rather than stopping at the first one:
//
//  1. The YAML file is decoded strictly on top of the defaults. A key that
//     names no field is an error carrying the file, line and key path
//     ("config.yaml:12: kafka.brokerz: unknown key"), because a misspelt key
//     that is silently ignored leaves a default in force that the operator
//     believes they changed. Absent keys and keys with an empty (null) value
//     keep their default. Lists replace the default list; maps are merged key
//     by key, and a map entry with an empty value ("psp-c:" or "psp-c: ~")
//     removes that entry of the default map. Durations are written as Go durations ("250ms", "2s", "1m30s").
//  2. Environment variables override single values. The variable name is
//     PAYROUTE_ followed by the key path in upper case joined by "_" (hyphens
//     become "_" too): kafka.brokers is PAYROUTE_KAFKA_BROKERS. Strings,
//     booleans, integers, floats, durations, types implementing
//     encoding.TextUnmarshaler, and lists of those (comma-separated) can be
//     set this way; nested structs are reached through their key path.
//     Maps and lists of structs are YAML-only: their keys are data (route
//     names, PSP names) that cannot be spelt reliably in a variable name.
//     A PAYROUTE_ variable that names no key is an error, so is one that
//     names a YAML-only key; the one exception is PAYROUTE_CONFIG
//     (EnvConfigFile), reserved for the path of the file itself.
//  3. The result is validated: every value in the tree whose type has a
//     Validate() error method is checked, and every error is reported with
//     its key path ("kafka.partitions: must be > 0").
//
// Dump prints the effective configuration with every field tagged
// `secret:"true"` redacted, so operators can see what is in force without
// credentials ever being echoed into logs or terminals.
package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
)

// EnvPrefix starts every environment variable that overrides a key.
const EnvPrefix = "PAYROUTE_"

// EnvConfigFile is the one PAYROUTE_ variable that is not a configuration
// key: it is reserved for the path of the configuration file, and Load
// ignores it.
const EnvConfigFile = "PAYROUTE_CONFIG"

// FieldError is one problem with one configuration key. Key is a dotted key
// path relative to the value whose Validate method returned the error;
// Validate and Load prefix it with the path of that value, so a component
// returning FieldError{Key: "brokers"} from the value at "kafka" is reported
// as "kafka.brokers: ...". List elements are written "routes.eu[0].psp".
type FieldError struct {
	Key string
	Msg string
}

// Error returns "key: msg", or msg alone when Key is empty.
func (e FieldError) Error() string {
	if e.Key == "" {
		return e.Msg
	}
	return e.Key + ": " + e.Msg
}

// Errorf returns a FieldError for key with a formatted message. Validate
// methods return it, or several of them joined with errors.Join.
func Errorf(key, format string, args ...any) error {
	return FieldError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// JoinKey joins a parent key path and a child key path:
// JoinKey("kafka", "brokers") is "kafka.brokers", JoinKey("routes", "[2].psp")
// is "routes[2].psp", and an empty side yields the other.
func JoinKey(parent, child string) string {
	switch {
	case parent == "":
		return child
	case child == "":
		return parent
	case strings.HasPrefix(child, "["):
		return parent + child
	default:
		return parent + "." + child
	}
}

// Load fills dst from the YAML file at path and then from environ (in
// os.Environ form, "NAME=value"), and validates the result. dst must be a
// non-nil pointer to a struct already filled with defaults; path "" means
// defaults and environment only. Errors name the file and line, or the
// variable, and the key path; all problems of a step are reported together.
func Load(path string, environ []string, dst any) error {
	if path == "" {
		return LoadBytes("", nil, environ, dst)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return LoadBytes(path, data, environ, dst)
}

// LoadBytes is Load with the YAML document given as data; name is used in
// error messages in place of a file name. Empty data means defaults only.
func LoadBytes(name string, data []byte, environ []string, dst any) error {
	rv := reflect.ValueOf(dst)
	if !rv.IsValid() || rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("config: destination must be a non-nil pointer to a struct, got %T", dst)
	}
	if name == "" {
		name = "<config>"
	}
	if err := decodeYAML(name, data, rv.Elem()); err != nil {
		return err
	}
	if err := applyEnv(environ, rv.Elem()); err != nil {
		return err
	}
	return Validate(dst)
}

// joinErrs joins collected errors; nil when there are none.
func joinErrs(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errors.Join(errs...)
}
