// Package config loads a binary's configuration from environment variables
// with caarlos0/env, validates it, prints the variables a binary reads (for
// -h) and renders the effective configuration with secrets masked.
//
// Every binary has its own struct; the parts they share (logging, Telegram
// client, data directory) are the structs of this package, embedded with
// `envPrefix:""`. A field tagged `secret:"true"` is never printed in clear.
package config

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"go.uber.org/zap"
)

// Validator is implemented by config structs (or their parts) that check
// their values after parsing. Errors must name the variable at fault.
type Validator interface {
	Validate() error
}

// Load parses the environment into a new T and validates it.
func Load[T any]() (T, error) {
	return LoadFrom[T](nil)
}

// LoadFrom parses vars (the process environment when nil) into a new T and
// validates every part of it that implements Validator. The error lists
// every problem found, parse errors and validation errors alike, one per
// variable, so one run tells the operator all there is to fix.
func LoadFrom[T any](vars map[string]string) (T, error) {
	var cfg T
	opts := env.Options{}
	if vars != nil {
		opts.Environment = vars
	}
	var problems []string
	unparsed := map[string]bool{}
	if err := env.ParseWithOptions(&cfg, opts); err != nil {
		for _, p := range parseProblems(err, Vars(&cfg)) {
			problems = append(problems, p)
			name, _, _ := strings.Cut(p, ":")
			unparsed[name] = true
		}
	}
	for _, err := range flatten(validateAll(reflect.ValueOf(&cfg))) {
		// A variable that did not parse was left at its zero value:
		// what its validation says about that is noise.
		if name, _, _ := strings.Cut(err.Error(), ":"); !unparsed[name] {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return cfg, fmt.Errorf("config: %s", strings.Join(problems, "; "))
	}
	return cfg, nil
}

// Defaults returns a T with the envDefault of every variable and nothing
// else: the one source of the defaults for configurations built in code.
func Defaults[T any]() T {
	var cfg T
	// An empty environment: only the defaults apply. Errors can only be
	// about variables without a default, which stay zero.
	_ = env.ParseWithOptions(&cfg, env.Options{Environment: map[string]string{}})
	return cfg
}

// parseProblems drops caarlos0/env's "env: " prefix and names the variable
// of each problem in its aggregate error.
func parseProblems(err error, vars []Var) []string {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return []string{strings.TrimPrefix(err.Error(), "env: ")}
	}
	msgs := make([]string, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		msgs = append(msgs, describe(e, vars))
	}
	return msgs
}

// describe names the variable behind a field parse error.
func describe(err error, vars []Var) string {
	var pe env.ParseError
	if errors.As(err, &pe) {
		for _, v := range vars {
			if v.field == pe.Name {
				return fmt.Sprintf("%s: invalid value: %v", v.Name, pe.Err)
			}
		}
	}
	var unset env.VarIsNotSetError
	if errors.As(err, &unset) {
		return fmt.Sprintf("%s: required", unset.Key)
	}
	var empty env.EmptyVarError
	if errors.As(err, &empty) {
		return fmt.Sprintf("%s: must not be empty", empty.Key)
	}
	return strings.TrimPrefix(err.Error(), "env: ")
}

// flatten lists the errors joined in err (errors.Join, at any depth).
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// validateAll calls Validate on v and on every struct field of it, depth
// first, and joins all their errors.
func validateAll(v reflect.Value) error {
	var errs []error
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		if val, ok := v.Interface().(Validator); ok {
			errs = append(errs, val.Validate())
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return errors.Join(errs...)
	}
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if !v.Type().Field(i).IsExported() || f.Kind() != reflect.Struct {
			continue
		}
		errs = append(errs, validateAll(f.Addr()))
	}
	return errors.Join(errs...)
}

// Var describes one environment variable a config struct reads.
type Var struct {
	Name     string
	Default  string
	Required bool
	Secret   bool
	Usage    string
	Value    string // effective value, masked when Secret
	field    string // Go field name, to name the variable in parse errors
}

// Vars lists the variables of cfg (a struct or pointer to one) with their
// current values, secrets masked, sorted by name.
func Vars(cfg any) []Var {
	var out []Var
	walk(reflect.ValueOf(cfg), "", &out)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func walk(v reflect.Value, prefix string, out *[]Var) {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v = reflect.New(v.Type().Elem())
		}
		v = v.Elem()
	}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		fv := v.Field(i)
		name, hasEnv := sf.Tag.Lookup("env")
		if !hasEnv && fv.Kind() == reflect.Struct && sf.Type != reflect.TypeOf(time.Time{}) {
			walk(fv, prefix+sf.Tag.Get("envPrefix"), out)
			continue
		}
		if !hasEnv {
			continue
		}
		parts := strings.Split(name, ",")
		vr := Var{
			Name:    prefix + parts[0],
			Default: sf.Tag.Get("envDefault"),
			Secret:  sf.Tag.Get("secret") == "true",
			Usage:   sf.Tag.Get("usage"),
			field:   sf.Name,
		}
		for _, p := range parts[1:] {
			if p == "required" || p == "notEmpty" {
				vr.Required = true
			}
		}
		vr.Value = render(fv, vr.Secret)
		*out = append(*out, vr)
	}
}

func render(v reflect.Value, secret bool) string {
	var s string
	switch x := v.Interface().(type) {
	case []string:
		s = strings.Join(x, ",")
		if secret && len(x) > 0 {
			return fmt.Sprintf("***(%d)", len(x))
		}
	default:
		s = fmt.Sprint(x)
	}
	if secret {
		return Mask(s)
	}
	return s
}

// Mask hides a secret: empty stays empty (so "not set" is visible), anything
// else becomes "***".
func Mask(s string) string {
	if s == "" {
		return ""
	}
	return "***"
}

// Fields renders the effective config as zap fields, secrets masked, for the
// start-up log line.
func Fields(cfg any) []zap.Field {
	vars := Vars(cfg)
	fields := make([]zap.Field, 0, len(vars))
	for _, v := range vars {
		fields = append(fields, zap.String(v.Name, v.Value))
	}
	return fields
}

// PrintUsage writes the -h text: a line about the binary, the usage line,
// then one line per variable with its default and meaning.
func PrintUsage(w io.Writer, binary, usage, about string, cfg any) {
	fmt.Fprintf(w, "%s: %s\n\nUsage: %s\n\nEnvironment variables:\n", binary, about, usage)
	for _, v := range Vars(cfg) {
		def := v.Default
		if def == "" {
			def = `""`
		}
		req := ""
		if v.Required {
			req = " (required)"
		}
		fmt.Fprintf(w, "  %-32s default %s%s\n      %s\n", v.Name, def, req, v.Usage)
	}
}
