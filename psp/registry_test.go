package psp

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/payroute/payroute/schemas"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
)

type fakeConnector struct{ name string }

func (f fakeConnector) Attempt(context.Context, Request) Outcome {
	return Outcome{Outcome: schemas.OutcomeApproved, Reference: f.name}
}

func (f fakeConnector) Status(context.Context, Request) (StatusOutcome, error) {
	return StatusOutcome{}, nil
}

func init() {
	RegisterKind("fake-test", func(name string, a Account, _ *slog.Logger) (Connector, error) {
		if a.Endpoint == "https://fail.example" {
			return nil, errors.New("endpoint: refused by factory")
		}
		return fakeConnector{name: name + "@" + a.Timeout.String()}, nil
	})
}

func TestIdempotencyKey(t *testing.T) {
	k := IdempotencyKey("pay-1", "psp-a", schemas.OpAuthorize)
	if k != IdempotencyKey("pay-1", "psp-a", schemas.OpAuthorize) {
		t.Fatal("not deterministic")
	}
	if !strings.HasPrefix(k, "pr_") || len(k) != 35 {
		t.Fatalf("format: %q", k)
	}
	if strings.ContainsAny(k[3:], "0123456789") {
		t.Fatalf("key contains digits: %q", k)
	}
	distinct := map[string]bool{k: true}
	for _, other := range []string{
		IdempotencyKey("pay-2", "psp-a", schemas.OpAuthorize),
		IdempotencyKey("pay-1", "psp-b", schemas.OpAuthorize),
		IdempotencyKey("pay-1", "psp-a", schemas.OpCapture),
		IdempotencyKey("pay-1psp-a", "", schemas.OpAuthorize), // no ambiguity from concatenation
		RetryIdempotencyKey("pay-1", "psp-a", schemas.OpAuthorize, 1),
		RetryIdempotencyKey("pay-1", "psp-a", schemas.OpAuthorize, 2),
	} {
		if distinct[other] {
			t.Fatalf("collision: %q", other)
		}
		distinct[other] = true
	}
	if RetryIdempotencyKey("pay-1", "psp-a", schemas.OpAuthorize, 0) != k {
		t.Fatal("retry 0 differs from IdempotencyKey")
	}
	// Pinned: the key must never change across releases (redelivery after an upgrade).
	if k != "pr_iabcaniibcpgeljclpahidaalhbmpjjd" {
		t.Fatalf("IdempotencyKey changed: %q", k)
	}
}

func TestValidate(t *testing.T) {
	if err := DefaultConfiguration().Validate(); err != nil {
		t.Fatal(err)
	}
	err := Configuration{Accounts: map[string]Account{
		"psp-a":    {Kind: "", Timeout: -time.Second},
		"psp-b":    {Kind: "fake-test", Endpoint: "ftp://x"},
		"psp-c":    {Kind: "fake-test", Endpoint: "http://"},
		"bad name": {Kind: "fake-test"},
	}}.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"accounts.psp-a.kind: required",
		"accounts.psp-a.timeout: must not be negative",
		"accounts.psp-b.endpoint: scheme must be http or https",
		"accounts.psp-c.endpoint: missing host",
		"accounts.bad name: invalid name",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if err := (Configuration{}).Validate(); err == nil {
		t.Error("empty configuration accepted")
	}
}

func TestNewRegistry(t *testing.T) {
	reg, err := NewRegistry(Configuration{Accounts: map[string]Account{
		"psp-b": {Kind: "fake-test", ExcludeFromFailover: true},
		"psp-a": {Kind: "fake-test", Timeout: 3 * time.Second},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(reg.Names(), ","); got != "psp-a,psp-b" {
		t.Fatalf("Names = %s", got)
	}
	c, ok := reg.Get("psp-a")
	if !ok || c.Attempt(context.Background(), Request{}).Reference != "psp-a@3s" {
		t.Fatal("psp-a connector")
	}
	if c, _ := reg.Get("psp-b"); c.Attempt(context.Background(), Request{}).Reference != "psp-b@"+DefaultTimeout.String() {
		t.Fatal("default timeout not applied")
	}
	if a, _ := reg.Account("psp-b"); !a.ExcludeFromFailover || a.Timeout != DefaultTimeout {
		t.Fatalf("account = %+v", a)
	}
	if _, ok := reg.Get("nope"); ok {
		t.Fatal("unknown account found")
	}

	_, err = NewRegistry(Configuration{Accounts: map[string]Account{
		"psp-a": {Kind: "no-such-kind"},
		"psp-b": {Kind: "fake-test", Endpoint: "https://fail.example"},
	}})
	if err == nil || !strings.Contains(err.Error(), `accounts.psp-a.kind: unknown kind "no-such-kind"`) ||
		!strings.Contains(err.Error(), "accounts.psp-b: endpoint: refused by factory") {
		t.Fatalf("err = %v", err)
	}
}

func TestRegisterKindPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"duplicate": func() {
			RegisterKind("fake-test", func(string, Account, *slog.Logger) (Connector, error) { return nil, nil })
		},
		"empty": func() { RegisterKind("", func(string, Account, *slog.Logger) (Connector, error) { return nil, nil }) },
		"nil":   func() { RegisterKind("x", nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
	found := false
	for _, k := range Kinds() {
		found = found || k == "fake-test"
	}
	if !found {
		t.Fatal("Kinds lacks fake-test")
	}
}

func TestStaticRegistry(t *testing.T) {
	reg := NewStaticRegistry(map[string]Connector{"b": fakeConnector{"b"}, "a": fakeConnector{"a"}})
	if strings.Join(reg.Names(), ",") != "a,b" {
		t.Fatal(reg.Names())
	}
	if c, ok := reg.Get("b"); !ok || c.Attempt(context.Background(), Request{}).Reference != "b" {
		t.Fatal("b")
	}
}

func TestModule(t *testing.T) {
	var reg *Registry
	app := fxtest.New(t, fx.NopLogger,
		fx.Supply(Configuration{Accounts: map[string]Account{"psp-a": {Kind: "fake-test"}}}),
		Module, fx.Populate(&reg))
	app.RequireStart()
	defer app.RequireStop()
	if _, ok := reg.Get("psp-a"); !ok {
		t.Fatal("psp-a missing")
	}
}
