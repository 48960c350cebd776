package config

import (
	"fmt"
	"reflect"
	"sort"
)

// Validator is implemented by configuration values that can check
// themselves. Validate should report every problem it finds, each as a
// FieldError (see Errorf) keyed relative to the value, joined with
// errors.Join; it should not validate nested values that have their own
// Validate method, because those are visited too.
type Validator interface {
	Validate() error
}

// Validate walks root (a struct or a pointer to one) and calls Validate on
// every value in the tree that implements Validator: root itself, struct
// fields, list elements and map values, with either value or pointer
// receivers. Every error is collected and reported with its full key path
// ("kafka.partitions: must be > 0"); the result joins them with errors.Join
// in tree order (struct fields in declaration order, map keys sorted), and
// each joined error is a FieldError. nil means the tree is valid.
func Validate(root any) error {
	var errs []error
	validateValue(reflect.ValueOf(root), "", &errs, 0)
	return joinErrs(errs)
}

func validateValue(v reflect.Value, key string, errs *[]error, depth int) {
	if !v.IsValid() || depth > 64 {
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return
		}
		if v.Kind() == reflect.Interface {
			validateValue(v.Elem(), key, errs, depth+1)
			return
		}
		// A pointer's Validate is its element's method set plus pointer
		// receivers: call it once, through the element, below.
		validateValue(v.Elem(), key, errs, depth+1)
		return
	}
	if !v.CanAddr() { // map values and the root passed by value
		c := reflect.New(v.Type()).Elem()
		c.Set(v)
		v = c
	}
	if v.Addr().CanInterface() {
		if val, ok := v.Addr().Interface().(Validator); ok {
			if err := callValidate(val); err != nil {
				flatten(err, key, errs)
			}
		}
	}
	switch v.Kind() {
	case reflect.Struct:
		for _, f := range fieldsOf(v.Type()) {
			validateValue(v.FieldByIndex(f.index), JoinKey(key, f.name), errs, depth+1)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			validateValue(v.Index(i), fmt.Sprintf("%s[%d]", key, i), errs, depth+1)
		}
	case reflect.Map:
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		for _, k := range keys {
			validateValue(v.MapIndex(k), JoinKey(key, fmt.Sprint(k)), errs, depth+1)
		}
	}
}

// callValidate calls Validate, turning a panic (for example a value
// receiver on a nil pointer inside the value) into an error.
func callValidate(v Validator) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("validate panicked: %v", r)
		}
	}()
	return v.Validate()
}

// flatten splits joined errors and prefixes each with key.
func flatten(err error, key string, errs *[]error) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if e != nil {
				flatten(e, key, errs)
			}
		}
		return
	}
	var fe FieldError
	switch e := err.(type) {
	case FieldError:
		fe = FieldError{Key: JoinKey(key, e.Key), Msg: e.Msg}
	case *FieldError:
		fe = FieldError{Key: JoinKey(key, e.Key), Msg: e.Msg}
	default: // a plain error is about the value itself
		fe = FieldError{Key: key, Msg: err.Error()}
	}
	*errs = append(*errs, fe)
}
