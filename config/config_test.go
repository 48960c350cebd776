package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/payroute/payroute/config"
)

type kafkaConfig struct {
	Brokers    []string      `yaml:"brokers"`
	Partitions int           `yaml:"partitions"`
	Timeout    time.Duration `yaml:"timeout"`
	TLS        bool          `yaml:"tls"`
	Password   string        `yaml:"password" secret:"true"`
}

func (k kafkaConfig) Validate() error {
	var errs []error
	if len(k.Brokers) == 0 {
		errs = append(errs, config.Errorf("brokers", "must not be empty"))
	}
	if k.Partitions <= 0 {
		errs = append(errs, config.Errorf("partitions", "must be > 0"))
	}
	return errors.Join(errs...)
}

type clickhouseConfig struct {
	Addr      string  `yaml:"addr"`
	Ratio     float64 `yaml:"ratio"`
	BatchSize uint32  `yaml:"batch_size"`
	Port      int16   `yaml:"port"`
}

type analyticsConfig struct {
	Enabled    bool             `yaml:"enabled"`
	ClickHouse clickhouseConfig `yaml:"clickhouse"`
	Flush      []time.Duration  `yaml:"flush"`
}

type account struct {
	Name   string `yaml:"name"`
	APIKey string `yaml:"api_key" secret:"true"`
}

// Pointer receiver on purpose: Validate must find it on list elements too.
func (a *account) Validate() error {
	if a.Name == "" {
		return config.Errorf("name", "is required")
	}
	return nil
}

type extra struct {
	Label string `yaml:"label"`
}

type root struct {
	Kafka     kafkaConfig         `yaml:"kafka"`
	Analytics analyticsConfig     `yaml:"analytics"`
	Routes    map[string][]string `yaml:"routes"`
	Tokens    map[string]string   `yaml:"tokens" secret:"true"`
	Accounts  []account           `yaml:"accounts"`
	Extra     *extra              `yaml:"extra"`
	Mode      mode                `yaml:"mode"`
}

// mode checks itself: Validate must reach non-struct values too.
type mode string

func (m mode) Validate() error {
	if m != "live" && m != "test" {
		return errors.New(`must be "live" or "test"`)
	}
	return nil
}

func defaults() *root {
	return &root{
		Kafka: kafkaConfig{
			Brokers:    []string{"localhost:9092"},
			Partitions: 12,
			Timeout:    2 * time.Second,
		},
		Analytics: analyticsConfig{
			ClickHouse: clickhouseConfig{Addr: "127.0.0.1:9000", Ratio: 1, BatchSize: 1000},
		},
		Routes: map[string][]string{"default": {"psp-a"}},
		Mode:   "test",
	}
}

func errLines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

func TestDefaultsOnly(t *testing.T) {
	got := defaults()
	if err := config.Load("", nil, got); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !reflect.DeepEqual(got, defaults()) {
		t.Fatalf("defaults changed:\n got %+v\nwant %+v", got, defaults())
	}
	// Empty and comment-only files are defaults too.
	for _, data := range []string{"", "# nothing\n", "---\n"} {
		got := defaults()
		if err := config.LoadBytes("c.yaml", []byte(data), nil, got); err != nil {
			t.Fatalf("LoadBytes(%q): %v", data, err)
		}
		if !reflect.DeepEqual(got, defaults()) {
			t.Fatalf("LoadBytes(%q) changed defaults: %+v", data, got)
		}
	}
}

func TestYAMLOverrides(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "payroute.yaml")
	data := `
kafka:
  brokers: [a:9092, b:9092]
  timeout: 250ms
  tls: true
analytics:
  clickhouse:
    addr: ch:9000   # partitions, batch_size etc. keep their defaults
  flush: [1s, 1m30s]
routes:
  cards-eu: [psp-b, psp-c]
  default:   # an empty entry removes the default one
accounts:
  - name: acme
    api_key: sk_live_1
extra:
  label: hello
mode: live
`
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	got := defaults()
	if err := config.Load(path, nil, got); err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := defaults()
	want.Kafka.Brokers = []string{"a:9092", "b:9092"}
	want.Kafka.Timeout = 250 * time.Millisecond
	want.Kafka.TLS = true
	want.Analytics.ClickHouse.Addr = "ch:9000"
	want.Analytics.Flush = []time.Duration{time.Second, 90 * time.Second}
	want.Routes = map[string][]string{"cards-eu": {"psp-b", "psp-c"}} // maps merge with the defaults; "default" was removed
	want.Accounts = []account{{Name: "acme", APIKey: "sk_live_1"}}
	want.Extra = &extra{Label: "hello"}
	want.Mode = "live"
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

// TestEmptyMapEntryRemovesOnlyADefault: an empty entry (or an alias of an
// empty value) removes the default entry of that name; one that names no
// default is an error, like an unknown key, since it is a typo of the
// entry meant.
func TestEmptyMapEntryRemovesOnlyADefault(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	load := func(data string) (*root, error) {
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		got := defaults()
		return got, config.Load(path, nil, got)
	}
	got, err := load("mode: &none\nroutes:\n  default: *none\n")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Routes["default"]; ok {
		t.Fatalf("routes %v: an alias of an empty value must remove the default entry too", got.Routes)
	}
	_, err = load("routes:\n  defualt:\n")
	if err == nil || !strings.Contains(err.Error(), "routes.defualt") || !strings.Contains(err.Error(), "no default") {
		t.Fatalf("an empty entry naming no default: %v, want an error naming routes.defualt", err)
	}
}

func TestYAMLNullKeepsDefaultAndMergeKeys(t *testing.T) {
	data := `
base: &base
  addr: merged:9000
kafka:
  timeout:
analytics:
  clickhouse:
    <<: *base
    ratio: 0.5
`
	// "base" is not a key of root, so it must be reported; everything else is fine.
	got := defaults()
	err := config.LoadBytes("c.yaml", []byte(data), nil, got)
	if err == nil || err.Error() != "c.yaml:2: base: unknown key" {
		t.Fatalf("err = %v", err)
	}
	data = strings.Replace(data, "base: &base\n  addr: merged:9000\n", "", 1)
	data = strings.Replace(data, "<<: *base", "<<: {addr: merged:9000}", 1)
	got = defaults()
	if err := config.LoadBytes("c.yaml", []byte(data), nil, got); err != nil {
		t.Fatalf("LoadBytes: %v", err)
	}
	if got.Kafka.Timeout != 2*time.Second {
		t.Errorf("null timeout: got %v, want the default 2s", got.Kafka.Timeout)
	}
	if got.Analytics.ClickHouse.Addr != "merged:9000" || got.Analytics.ClickHouse.Ratio != 0.5 {
		t.Errorf("merge key: got %+v", got.Analytics.ClickHouse)
	}
}

func TestYAMLErrors(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []string
	}{
		{
			name: "unknown key with line",
			data: "kafka:\n  brokers: [a:1]\n  brokerz: [b:1]\n",
			want: []string{"config.yaml:3: kafka.brokerz: unknown key"},
		},
		{
			name: "all unknown keys are reported, nested and in lists",
			data: "kafkaa: {}\nanalytics:\n  clickhouse:\n    adr: x\naccounts:\n  - name: a\n    apikey: k\n",
			want: []string{
				"config.yaml:1: kafkaa: unknown key",
				"config.yaml:4: analytics.clickhouse.adr: unknown key",
				"config.yaml:7: accounts[0].apikey: unknown key",
			},
		},
		{
			name: "bad duration",
			data: "kafka:\n  timeout: 5\n",
			want: []string{`config.yaml:2: kafka.timeout: invalid duration "5" (want a number with a unit, such as 250ms, 2s or 1m30s)`},
		},
		{
			name: "bad integer",
			data: "kafka:\n  partitions: many\n",
			want: []string{`config.yaml:2: kafka.partitions: invalid value "many" for an integer (int)`},
		},
		{
			name: "wrong shape",
			data: "kafka:\n  brokers: a:9092\nanalytics: [1]\n",
			want: []string{
				`config.yaml:2: kafka.brokers: want a list, got "a:9092"`,
				"config.yaml:3: analytics: want a mapping, got a list",
			},
		},
		{
			name: "duplicate key",
			data: "kafka:\n  tls: true\n  tls: false\n",
			want: []string{"config.yaml:3: kafka.tls: key already defined at line 2"},
		},
		{
			name: "syntax error",
			data: "kafka: [\n",
			want: []string{"config.yaml:1: "},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := config.LoadBytes("config.yaml", []byte(tt.data), nil, defaults())
			got := errLines(err)
			if tt.name == "syntax error" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.want[0]) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("errors:\n got %q\nwant %q", got, tt.want)
			}
			var fe config.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("%v does not unwrap to a FieldError", err)
			}
		})
	}
}

func TestEnvOverrides(t *testing.T) {
	env := []string{
		"HOME=/root",                                          // not ours
		"PAYROUTE_CONFIG=/etc/payroute.yaml",                  // reserved for the file path
		"PAYROUTE_KAFKA_BROKERS=a:9092, b:9092",               // []string
		"PAYROUTE_KAFKA_PARTITIONS=24",                        // int
		"PAYROUTE_KAFKA_TIMEOUT=250ms",                        // time.Duration
		"PAYROUTE_KAFKA_TLS=true",                             // bool
		"PAYROUTE_KAFKA_PASSWORD=s3cret",                      // string
		"PAYROUTE_ANALYTICS_CLICKHOUSE_ADDR=ch.internal:9000", // nested struct
		"PAYROUTE_ANALYTICS_CLICKHOUSE_RATIO=0.25",            // float
		"PAYROUTE_ANALYTICS_CLICKHOUSE_BATCH_SIZE=5000",       // uint
		"PAYROUTE_ANALYTICS_FLUSH=1s,2s",                      // []time.Duration
		"PAYROUTE_EXTRA_LABEL=from-env",                       // nil pointer is allocated
		"PAYROUTE_MODE=live",                                  // named string type
	}
	// The environment wins over the file.
	got := defaults()
	if err := config.LoadBytes("c.yaml", []byte("kafka:\n  partitions: 6\n"), env, got); err != nil {
		t.Fatalf("LoadBytes: %v", err)
	}
	want := defaults()
	want.Kafka = kafkaConfig{Brokers: []string{"a:9092", "b:9092"}, Partitions: 24,
		Timeout: 250 * time.Millisecond, TLS: true, Password: "s3cret"}
	want.Analytics.ClickHouse = clickhouseConfig{Addr: "ch.internal:9000", Ratio: 0.25, BatchSize: 5000}
	want.Analytics.Flush = []time.Duration{time.Second, 2 * time.Second}
	want.Extra = &extra{Label: "from-env"}
	want.Mode = "live"
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if config.EnvName("analytics.clickhouse.batch_size") != "PAYROUTE_ANALYTICS_CLICKHOUSE_BATCH_SIZE" {
		t.Fatalf("EnvName = %s", config.EnvName("analytics.clickhouse.batch_size"))
	}
}

func TestEnvErrors(t *testing.T) {
	tests := []struct {
		env  string
		want string
	}{
		{"PAYROUTE_KAFKA_PARTITIONS=twelve", `PAYROUTE_KAFKA_PARTITIONS: kafka.partitions: invalid integer "twelve" for int`},
		{"PAYROUTE_KAFKA_TIMEOUT=2", `PAYROUTE_KAFKA_TIMEOUT: kafka.timeout: invalid duration "2" (want a number with a unit, such as 250ms, 2s or 1m30s)`},
		{"PAYROUTE_KAFKA_TLS=maybe", `PAYROUTE_KAFKA_TLS: kafka.tls: invalid boolean "maybe" (want true or false)`},
		{"PAYROUTE_ANALYTICS_CLICKHOUSE_PORT=70000", `PAYROUTE_ANALYTICS_CLICKHOUSE_PORT: analytics.clickhouse.port: invalid integer "70000" for int16`},
		{"PAYROUTE_ANALYTICS_CLICKHOUSE_BATCH_SIZE=-1", `PAYROUTE_ANALYTICS_CLICKHOUSE_BATCH_SIZE: analytics.clickhouse.batch_size: invalid non-negative integer "-1" for uint32`},
		{"PAYROUTE_ANALYTICS_CLICKHOUSE_RATIO=half", `PAYROUTE_ANALYTICS_CLICKHOUSE_RATIO: analytics.clickhouse.ratio: invalid number "half"`},
		{"PAYROUTE_ANALYTICS_FLUSH=1s,x", `PAYROUTE_ANALYTICS_FLUSH: analytics.flush: item 2: invalid duration "x" (want a number with a unit, such as 250ms, 2s or 1m30s)`},
		{"PAYROUTE_KAFKA_BROKERZ=a:1", `PAYROUTE_KAFKA_BROKERZ: names no configuration key`},
		{"PAYROUTE_ROUTES_CARDS_EU=psp-a", `PAYROUTE_ROUTES_CARDS_EU: routes: can only be set in the configuration file (maps and lists of structs are YAML-only)`},
		{"PAYROUTE_ACCOUNTS=x", `PAYROUTE_ACCOUNTS: accounts: can only be set in the configuration file (maps and lists of structs are YAML-only)`},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			err := config.Load("", []string{tt.env}, defaults())
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v\nwant %s", err, tt.want)
			}
		})
	}
	// Several bad variables are all reported.
	err := config.Load("", []string{"PAYROUTE_KAFKA_TLS=x", "PAYROUTE_KAFKA_PARTITIONS=y"}, defaults())
	if n := len(errLines(err)); n != 2 {
		t.Fatalf("want 2 errors, got %d: %v", n, err)
	}
}

func TestValidateCollectsAllWithKeyPaths(t *testing.T) {
	data := `
kafka:
  brokers: []
  partitions: 0
accounts:
  - name: ok
  - api_key: k
mode: staging
`
	err := config.LoadBytes("c.yaml", []byte(data), nil, defaults())
	want := []string{
		"kafka.brokers: must not be empty",
		"kafka.partitions: must be > 0",
		"accounts[1].name: is required",
		`mode: must be "live" or "test"`,
	}
	if got := errLines(err); !reflect.DeepEqual(got, want) {
		t.Fatalf("errors:\n got %q\nwant %q", got, want)
	}
	// Each joined error is a FieldError with the full key.
	var keys []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fe config.FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("%v is not a FieldError", e)
		}
		keys = append(keys, fe.Key)
	}
	if want := []string{"kafka.brokers", "kafka.partitions", "accounts[1].name", "mode"}; !reflect.DeepEqual(keys, want) {
		t.Fatalf("keys = %q, want %q", keys, want)
	}
	// Validate works on its own, on a value or a pointer, and nested
	// component errors compose their keys.
	if err := config.Validate(*defaults()); err != nil {
		t.Fatalf("Validate(defaults) = %v", err)
	}
	nested := struct {
		Outer struct {
			Inner kafkaConfig `yaml:"inner"`
		} `yaml:"outer"`
	}{}
	nested.Outer.Inner.Brokers = []string{"x"}
	if err := config.Validate(&nested); err == nil || err.Error() != "outer.inner.partitions: must be > 0" {
		t.Fatalf("nested: %v", err)
	}
}

func TestDumpRedactsSecrets(t *testing.T) {
	cfg := defaults()
	cfg.Kafka.Password = "hunter2"
	cfg.Tokens = map[string]string{"psp-a": "tok_live_abc"}
	cfg.Accounts = []account{{Name: "acme", APIKey: "sk_live_123"}, {Name: "empty"}}
	cfg.Analytics.Flush = []time.Duration{} // dumped as [], which loads as an empty list
	out, err := config.Dump(cfg)
	if err != nil {
		t.Fatalf("Dump: %v", err)
	}
	s := string(out)
	for _, secret := range []string{"hunter2", "tok_live_abc", "sk_live_123"} {
		if strings.Contains(s, secret) {
			t.Fatalf("secret %q echoed:\n%s", secret, s)
		}
	}
	for _, want := range []string{
		`password: "***"`,
		`psp-a: "***"`,
		`api_key: "***"`,
		`api_key: ""`, // an unset secret is shown as unset
		"timeout: 2s",
		"- localhost:9092",
		"partitions: 12",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("dump lacks %q:\n%s", want, s)
		}
	}
	// The dump is loadable and, secrets aside, round-trips.
	back := defaults()
	if err := config.LoadBytes("dump.yaml", out, nil, back); err != nil {
		t.Fatalf("reload dump: %v\n%s", err, s)
	}
	back.Kafka.Password, back.Tokens, back.Accounts[0].APIKey = cfg.Kafka.Password, cfg.Tokens, cfg.Accounts[0].APIKey
	if !reflect.DeepEqual(back, cfg) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", back, cfg)
	}
}

func TestLoadRejectsBadDestination(t *testing.T) {
	var notPtr root
	for _, dst := range []any{nil, notPtr, (*root)(nil), new(int)} {
		if err := config.Load("", nil, dst); err == nil {
			t.Errorf("Load(%T) succeeded", dst)
		}
	}
	if err := config.Load(filepath.Join(t.TempDir(), "missing.yaml"), nil, defaults()); err == nil {
		t.Error("missing file: no error")
	}
}
