package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/payroute/payroute/analytics"
	"github.com/payroute/payroute/analytics/clickhousetest"
	"github.com/payroute/payroute/kafka"
)

// The deployment files are checked against payroute itself: their
// configuration loads (so every key and PAYROUTE_ variable they set
// exists), the topic script creates exactly the topics of that
// configuration, ports and paths agree between the files, and every metric
// the alerts, dashboards and autoscaler use is one payroute exports.

const deployDir = "../../deploy"

// yamlDocs reads every YAML document of a file.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var out []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if doc != nil {
			out = append(out, doc)
		}
	}
}

// dig walks a decoded YAML tree by keys (strings) and list indexes (ints).
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// loadDeployConfig loads a deployment's configuration file the way payroute
// would, with the environment the deployment gives it.
func loadDeployConfig(t *testing.T, path string, env map[string]string) Configuration {
	t.Helper()
	for k, v := range env {
		if strings.HasPrefix(k, "PAYROUTE_") {
			t.Setenv(k, v)
		}
	}
	cfg, err := LoadConfiguration(path)
	if err != nil {
		t.Fatalf("%s does not load with %v: %v", path, env, err)
	}
	return cfg
}

// composeEnv expands ${VAR:-default} the way compose does when VAR is unset.
func composeEnv(v string) string {
	return regexp.MustCompile(`\$\{[A-Z_]+:-([^}]*)\}`).ReplaceAllString(v, "$1")
}

func port(t *testing.T, hostport string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatalf("%q: %v", hostport, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// topicCall is one kafka-topics --create the script made.
type topicCall struct {
	partitions, replication string
	configs                 map[string]string
}

// runTopicScript runs deploy/kafka/create-topics.sh with env and a stand-in
// kafka-topics that records its arguments, and returns the topics created.
func runTopicScript(t *testing.T, env map[string]string) map[string]topicCall {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	fake := filepath.Join(dir, "kafka-topics")
	script := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done >> " + log + "\necho --end-- >> " + log + "\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", filepath.Join(deployDir, "kafka", "create-topics.sh"))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "KAFKA_TOPICS=" + fake}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("create-topics.sh: %v\n%s", err, out)
	}
	f, err := os.Open(log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]topicCall{}
	var args []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if sc.Text() != "--end--" {
			args = append(args, sc.Text())
			continue
		}
		c := topicCall{configs: map[string]string{}}
		var topic string
		create := false
		for i := 0; i < len(args); i++ {
			next := func() string { i++; return args[i] }
			switch args[i] {
			case "--create":
				create = true
			case "--topic":
				topic = next()
			case "--partitions":
				c.partitions = next()
			case "--replication-factor":
				c.replication = next()
			case "--config":
				k, v, _ := strings.Cut(next(), "=")
				c.configs[k] = v
			case "--bootstrap-server":
				if next() != env["BOOTSTRAP"] {
					t.Errorf("kafka-topics called with another bootstrap than %s", env["BOOTSTRAP"])
				}
			}
		}
		if !create || topic == "" {
			t.Errorf("unexpected kafka-topics call %v", args)
		}
		out[topic] = c
		args = nil
	}
	return out
}

// checkTopics compares what the script created with the topics of cfg.
func checkTopics(t *testing.T, created map[string]topicCall, cfg kafka.Configuration, replication string) {
	t.Helper()
	topics := cfg.Topics()
	for name, compacted := range topics.All() {
		c, ok := created[name]
		if !ok {
			t.Errorf("the script does not create %s", name)
			continue
		}
		if c.partitions != fmt.Sprint(cfg.Partitions) {
			t.Errorf("%s: %s partitions, kafka.partitions says %d", name, c.partitions, cfg.Partitions)
		}
		if c.replication != replication {
			t.Errorf("%s: replication %s, want %s", name, c.replication, replication)
		}
		if got := c.configs["cleanup.policy"] == "compact"; got != compacted {
			t.Errorf("%s: compacted %v, payroute wants %v", name, got, compacted)
		}
		if r := topics.Retention(name); r > 0 && c.configs["retention.ms"] != fmt.Sprint(r.Milliseconds()) {
			t.Errorf("%s: retention.ms %q, payroute wants %d", name, c.configs["retention.ms"], r.Milliseconds())
		}
	}
	for name := range created {
		if _, ok := topics.All()[name]; !ok {
			t.Errorf("the script creates %s, which payroute does not use", name)
		}
	}
}

// documentedMetrics are the metric names docs/operators.md lists.
func documentedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../../docs/operators.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, m := range regexp.MustCompile("`(payroute_[a-z0-9_]+)\\*?`").FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = true
	}
	return out
}

var metricName = regexp.MustCompile(`\bpayroute_[a-z0-9_]+`)

// checkMetricNames checks that every payroute metric an expression uses is
// documented (and so exported: the admin package's tests keep the
// documentation equal to what it registers). franz-go's client metrics are
// the documented payroute_kafka_ family.
func checkMetricNames(t *testing.T, where, expr string, documented map[string]bool) {
	t.Helper()
	for _, m := range metricName.FindAllString(expr, -1) {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")
		if documented[base] || documented[m] || (strings.HasPrefix(m, "payroute_kafka_") && documented["payroute_kafka_"]) {
			continue
		}
		if m == "payroute_processor_lag" { // the autoscaler's name for the adapter's query
			continue
		}
		t.Errorf("%s uses %s, which payroute does not export (docs/operators.md)", where, m)
	}
}

func TestComposeDeployment(t *testing.T) {
	dir := filepath.Join(deployDir, "compose")
	docs := yamlDocs(t, filepath.Join(dir, "docker-compose.yml"))
	services, _ := dig(docs[0], "services").(map[string]any)
	for _, s := range []string{"kafka", "topics", "clickhouse", "psp-sim", "payroute", "prometheus", "grafana"} {
		if services[s] == nil {
			t.Fatalf("docker-compose.yml has no %s service", s)
		}
	}
	if roles := str(dig(services, "kafka", "environment", "KAFKA_PROCESS_ROLES")); !strings.Contains(roles, "controller") || !strings.Contains(roles, "broker") {
		t.Errorf("kafka is not a KRaft broker+controller: KAFKA_PROCESS_ROLES=%q", roles)
	}
	// Every bind mount names a file or directory of the repository.
	for name, s := range services {
		vols, _ := dig(s, "volumes").([]any)
		for _, v := range vols {
			src, _, _ := strings.Cut(str(v), ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(filepath.Join(dir, src)); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
			}
		}
	}

	// payroute: its file loads with its environment.
	pr := services["payroute"]
	env := map[string]string{}
	for k, v := range dig(pr, "environment").(map[string]any) {
		env[k] = composeEnv(str(v))
	}
	cmd := fmt.Sprint(dig(pr, "command"))
	if !strings.Contains(cmd, "run") || !strings.Contains(cmd, "/etc/payroute/payroute.yaml") {
		t.Errorf("payroute command %s", cmd)
	}
	cfg := loadDeployConfig(t, filepath.Join(dir, "payroute.yaml"), env)
	if cfg.Kafka.CreateTopics {
		t.Error("compose creates the topics with the topics service: kafka.create_topics should be false")
	}
	if c := str(dig(pr, "depends_on", "topics", "condition")); c != "service_completed_successfully" {
		t.Errorf("payroute must start after the topics exist, depends_on topics is %q", c)
	}
	if !strings.HasPrefix(cfg.Kafka.Brokers[0], "kafka:") || cfg.Analytics.ClickHouse.Password == "" {
		t.Errorf("compose configuration: brokers %v, ClickHouse password set %v", cfg.Kafka.Brokers, cfg.Analytics.ClickHouse.Password != "")
	}
	adminPort := port(t, cfg.Admin.Listen)
	if ports := fmt.Sprint(dig(pr, "ports")); !strings.Contains(ports, fmt.Sprintf(":%d", adminPort)) {
		t.Errorf("payroute publishes %s, admin.listen is %s", ports, cfg.Admin.Listen)
	}
	// The simulated PSPs: every account is served by the psp-sim service.
	simPort := port(t, cfg.Simulator.Listen)
	for name, a := range cfg.PSPs.Accounts {
		if a.Endpoint != fmt.Sprintf("http://psp-sim:%d", simPort) {
			t.Errorf("account %s endpoint %s is not the psp-sim service", name, a.Endpoint)
		}
		if _, ok := cfg.Simulator.PSPs[name]; !ok {
			t.Errorf("account %s is not simulated by psp-sim", name)
		}
	}

	// Topics: the script, run as the topics service runs it.
	tenv := map[string]string{}
	for k, v := range dig(services, "topics", "environment").(map[string]any) {
		tenv[k] = str(v)
	}
	checkTopics(t, runTopicScript(t, tenv), cfg.Kafka, tenv["REPLICATION_FACTOR"])

	// Prometheus scrapes the admin port and loads the alerts.
	prom := yamlDocs(t, filepath.Join(deployDir, "prometheus", "prometheus.yml"))[0]
	if target := str(dig(prom, "scrape_configs", 0, "static_configs", 0, "targets", 0)); target != fmt.Sprintf("payroute:%d", adminPort) {
		t.Errorf("Prometheus scrapes %s, payroute's admin port is %d", target, adminPort)
	}
	if rf := str(dig(prom, "rule_files", 0)); filepath.Base(rf) != "alerts.yml" {
		t.Errorf("rule_files %s", rf)
	}
}

func TestAlertsUseExportedMetrics(t *testing.T) {
	documented := documentedMetrics(t)
	doc := yamlDocs(t, filepath.Join(deployDir, "prometheus", "alerts.yml"))[0]
	groups, _ := dig(doc, "groups").([]any)
	n := 0
	for _, g := range groups {
		rules, _ := dig(g, "rules").([]any)
		for _, r := range rules {
			name, expr := str(dig(r, "alert")), str(dig(r, "expr"))
			if name == "" || expr == "" || dig(r, "annotations", "summary") == nil {
				t.Errorf("alert %q needs an expr and a summary", name)
			}
			checkMetricNames(t, "alert "+name, expr, documented)
			n++
		}
	}
	if n == 0 {
		t.Fatal("no alerts")
	}
}

func TestGrafanaProvisioning(t *testing.T) {
	documented := documentedMetrics(t)
	ds := yamlDocs(t, filepath.Join(deployDir, "grafana", "provisioning", "datasources", "payroute.yml"))[0]
	uids := map[string]string{}
	for _, d := range dig(ds, "datasources").([]any) {
		uids[str(dig(d, "uid"))] = str(dig(d, "type"))
	}
	if uids["payroute-clickhouse"] != "grafana-clickhouse-datasource" {
		t.Fatalf("no ClickHouse data source: %v", uids)
	}
	files, err := filepath.Glob(filepath.Join(deployDir, "grafana", "dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	var chQueries []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var dash struct {
			UID    string
			Panels []struct {
				Title   string
				Targets []struct {
					Datasource struct{ Type, UID string }
					RawSQL     string `json:"rawSql"`
					Expr       string
				}
			}
		}
		if err := json.Unmarshal(b, &dash); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if dash.UID == "" || len(dash.Panels) == 0 {
			t.Errorf("%s: no uid or no panels", f)
		}
		for _, p := range dash.Panels {
			for _, tg := range p.Targets {
				typ, ok := uids[tg.Datasource.UID]
				if !ok || typ != tg.Datasource.Type {
					t.Errorf("%s / %s: data source %+v is not provisioned", f, p.Title, tg.Datasource)
				}
				switch typ {
				case "grafana-clickhouse-datasource":
					if tg.RawSQL == "" {
						t.Errorf("%s / %s: no SQL", f, p.Title)
					}
					chQueries = append(chQueries, tg.RawSQL)
				case "prometheus":
					checkMetricNames(t, filepath.Base(f)+" / "+p.Title, tg.Expr, documented)
				}
			}
		}
	}
	if len(chQueries) == 0 {
		t.Fatal("no dashboard reads ClickHouse")
	}
	runDashboardSQL(t, chQueries)
}

// runDashboardSQL runs the dashboards' ClickHouse queries, with Grafana's
// macros expanded as the ClickHouse plugin expands them, on a freshly
// migrated database: they must be valid for the schema, on the server the
// tests have (18.16, the oldest payroute supports).
func runDashboardSQL(t *testing.T, queries []string) {
	addr := clickhousetest.Addr(t)
	ch := analytics.DefaultConfiguration().ClickHouse
	ch.Addr = addr
	ch.Database = "payroute_dash_" + randomSuffix(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := analytics.Open(ctx, ch)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+ch.Database)
		_ = conn.Close()
	}()
	if err := analytics.Migrate(ctx, conn); err != nil {
		t.Fatal(err)
	}
	from, to := time.Now().Add(-time.Hour).Unix(), time.Now().Unix()
	timeFilter := regexp.MustCompile(`\$__timeFilter\(([a-z_]+)\)`)
	for _, q := range queries {
		sql := timeFilter.ReplaceAllString(q, fmt.Sprintf("$1 >= toDateTime(%d) AND $1 <= toDateTime(%d)", from, to))
		sql = strings.NewReplacer("$__interval_s", "30", "${database}", ch.Database).Replace(sql)
		if strings.Contains(sql, "$") {
			t.Errorf("unexpanded macro in:\n%s", sql)
			continue
		}
		rows, err := conn.Query(ctx, sql)
		if err != nil {
			t.Errorf("dashboard query fails: %v\n%s", err, sql)
			continue
		}
		rows.Close()
	}
}

func TestKubernetesDeployment(t *testing.T) {
	documented := documentedMetrics(t)
	kust := yamlDocs(t, filepath.Join(deployDir, "kustomization.yaml"))[0]
	objects := map[string]map[string]any{} // kind/name → object
	for _, r := range dig(kust, "resources").([]any) {
		for _, doc := range yamlDocs(t, filepath.Join(deployDir, str(r))) {
			objects[str(doc["kind"])+"/"+str(dig(doc, "metadata", "name"))] = doc
		}
	}
	generated := map[string]bool{}
	for _, g := range dig(kust, "configMapGenerator").([]any) {
		for _, f := range dig(g, "files").([]any) {
			if _, err := os.Stat(filepath.Join(deployDir, str(f))); err != nil {
				t.Errorf("configMapGenerator file: %v", err)
			}
		}
		generated[str(dig(g, "name"))] = true
	}
	dep := objects["Deployment/payroute"]
	cm := objects["ConfigMap/payroute-config"]
	secret := objects["Secret/payroute-secrets"]
	if dep == nil || cm == nil || secret == nil || objects["HorizontalPodAutoscaler/payroute"] == nil {
		t.Fatalf("missing objects; have %v", sortedKeys(objects))
	}
	c := dig(dep, "spec", "template", "spec", "containers", 0)

	// The configuration loads with the Deployment's environment.
	path := filepath.Join(t.TempDir(), "payroute.yaml")
	if err := os.WriteFile(path, []byte(str(dig(cm, "data", "payroute.yaml"))), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, e := range dig(c, "env").([]any) {
		v := str(dig(e, "value"))
		if dig(e, "valueFrom") != nil {
			v = "payroute-7d9f-abcde" // a pod name
		}
		env[str(dig(e, "name"))] = v
	}
	cfg := loadDeployConfig(t, path, env)
	if cfg.Processor.InstanceID != env["PAYROUTE_PROCESSOR_INSTANCE_ID"] {
		t.Errorf("instance id %q: the pod name must reach processor.instance_id", cfg.Processor.InstanceID)
	}

	// Mounts: the configuration where the args say, the Secret's files where
	// the configuration looks for them.
	mounts := map[string]string{} // mount path → volume
	for _, m := range dig(c, "volumeMounts").([]any) {
		mounts[str(dig(m, "mountPath"))] = str(dig(m, "name"))
	}
	if args := fmt.Sprint(dig(c, "args")); !strings.Contains(args, "--config") || mounts["/etc/payroute/payroute.yaml"] != "config" {
		t.Errorf("args %s and mounts %v: the configuration file is not where payroute reads it", args, mounts)
	}
	var secretDir string
	for p, v := range mounts {
		if v == "secrets" {
			secretDir = p
		}
	}
	keys := dig(secret, "stringData").(map[string]any)
	files := []string{cfg.Analytics.ClickHouse.PasswordFile}
	for _, name := range cfg.Router.Routes[cfg.Router.DefaultRoute] {
		a := cfg.PSPs.Accounts[name.PSP]
		if a.Kind == "simulator" || a.APIKeyFile == "" {
			t.Errorf("the production route uses %s, a %s account without an api_key_file", name.PSP, a.Kind)
		}
		files = append(files, a.APIKeyFile)
	}
	for _, f := range files {
		if filepath.Dir(f) != secretDir || keys[filepath.Base(f)] == nil {
			t.Errorf("%s is not a file of the payroute-secrets Secret mounted at %s", f, secretDir)
		}
	}

	// Probes on the admin port.
	adminPort := port(t, cfg.Admin.Listen)
	if p := dig(c, "ports", 0); str(dig(p, "name")) != "admin" || dig(p, "containerPort") != adminPort {
		t.Errorf("container port %v, admin.listen %s", p, cfg.Admin.Listen)
	}
	if p := str(dig(c, "readinessProbe", "httpGet", "path")); p != "/readyz" {
		t.Errorf("readiness probe %s", p)
	}
	if p := str(dig(c, "livenessProbe", "httpGet", "path")); p != "/healthz" {
		t.Errorf("liveness probe %s", p)
	}
	if p := str(dig(dep, "spec", "template", "metadata", "annotations", "prometheus.io/port")); p != fmt.Sprint(adminPort) {
		t.Errorf("prometheus.io/port %s, admin port %d", p, adminPort)
	}
	if p := str(dig(objects["Service/payroute-admin"], "spec", "ports", 0, "targetPort")); p != "admin" {
		t.Errorf("service targets %s", p)
	}

	// Autoscaling on lag: the adapter rule defines the HPA's metric from
	// payroute's lag series for the processor group, and there are never
	// more replicas than partitions.
	hpa := objects["HorizontalPodAutoscaler/payroute"]
	if n := str(dig(hpa, "spec", "scaleTargetRef", "name")); n != "payroute" {
		t.Errorf("HPA scales %s", n)
	}
	if mx := dig(hpa, "spec", "maxReplicas").(int); mx > int(cfg.Kafka.Partitions) {
		t.Errorf("maxReplicas %d > kafka.partitions %d: the extra replicas would idle", mx, cfg.Kafka.Partitions)
	}
	metric := str(dig(hpa, "spec", "metrics", 0, "external", "metric", "name"))
	rules := yamlDocs(t, filepath.Join(deployDir, "k8s", "prometheus-adapter-rules.yaml"))[0]
	rule := dig(rules, "rules", "external", 0)
	if as := str(dig(rule, "name", "as")); as != metric {
		t.Errorf("the adapter rule defines %q, the HPA uses %q", as, metric)
	}
	q := str(dig(rule, "seriesQuery")) + " " + str(dig(rule, "metricsQuery"))
	checkMetricNames(t, "prometheus-adapter rule", q, documented)
	if !strings.Contains(q, `group="`+cfg.Processor.Group+`"`) {
		t.Errorf("the adapter rule does not select the processor group %s: %s", cfg.Processor.Group, q)
	}

	// The topics Job creates the topics of this configuration.
	job := objects["Job/payroute-create-topics"]
	jc := dig(job, "spec", "template", "spec", "containers", 0)
	jenv := map[string]string{}
	for _, e := range dig(jc, "env").([]any) {
		jenv[str(dig(e, "name"))] = str(dig(e, "value"))
	}
	if cm := str(dig(job, "spec", "template", "spec", "volumes", 0, "configMap", "name")); !generated[cm] {
		t.Errorf("the Job mounts ConfigMap %s, which the kustomization does not generate", cm)
	}
	if jenv["BOOTSTRAP"] != cfg.Kafka.Brokers[0] {
		t.Errorf("the Job bootstraps from %s, payroute from %v", jenv["BOOTSTRAP"], cfg.Kafka.Brokers)
	}
	checkTopics(t, runTopicScript(t, jenv), cfg.Kafka, jenv["REPLICATION_FACTOR"])
}

// TestTopicScriptDefaults: with only BOOTSTRAP, the script creates the
// topics of payroute's default configuration.
func TestTopicScriptDefaults(t *testing.T) {
	cfg := DefaultConfiguration()
	checkTopics(t, runTopicScript(t, map[string]string{"BOOTSTRAP": "b:9092"}), cfg.Kafka, "3")
	prefixed := cfg.Kafka
	prefixed.TopicPrefix = "acme."
	checkTopics(t, runTopicScript(t, map[string]string{"BOOTSTRAP": "b:9092", "TOPIC_PREFIX": "acme."}), prefixed, "3")
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(deployDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{"./cmd/payroute", `"run", "--config", "/etc/payroute/payroute.yaml"`, "USER nonroot"} {
		if !strings.Contains(s, want) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
