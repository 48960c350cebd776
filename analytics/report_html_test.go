package analytics

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chromium is Debian's chromium package (scripts/test.sh installs it).
const chromium = "/usr/bin/chromium"

// The HTML report of a generated world has its three charts, with data,
// and every PSP; opened in headless Chromium its screenshot shows the
// charts drawn in the PSPs' colours. The screenshot is kept in the test's
// temporary directory, and copied to $ANALYTICS_TEST_SCREENSHOT_DIR when
// that is set, for a person to look at.
func TestHTMLReportRendersCharts(t *testing.T) {
	t.Parallel()
	w := newWorld(3, 1200, base)
	_, c := loadWorld(t, w)
	d, err := Report(context.Background(), c, ReportOptions{From: base, To: base.Add(2*time.Hour + time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if d.Bucket != 2*time.Minute || len(d.Series) < 3*50 || len(d.Hops) < 3 || len(d.Costs) != 6 {
		t.Fatalf("report: bucket %s, %d points, %d hops, %d costs", d.Bucket, len(d.Series), len(d.Hops), len(d.Costs))
	}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, d); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{
		"Success rate over time per PSP", "Failover flows between PSPs", "Cost per approved payment per PSP",
		`aria-label="success rate over time per PSP"`, `aria-label="failover flows between PSPs"`,
		`aria-label="cost per approved payment per PSP"`, "psp-a → psp-b", ">EUR<", ">USD<",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// One line per PSP with a point in most buckets.
	for _, color := range palette[:3] {
		if !strings.Contains(page, `fill="none" stroke="`+color+`"`) {
			t.Errorf("no success line in %s", color)
		}
	}
	if n := strings.Count(page, "<circle"); n < 3*50 {
		t.Errorf("%d points on the success chart", n)
	}
	for _, bad := range []string{"<script", "http://", "https://", "@import"} {
		if strings.Contains(strings.ReplaceAll(page, `xmlns="http://www.w3.org/2000/svg"`, ""), bad) {
			t.Errorf("page is not self-contained: it has %q", bad)
		}
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "report.html")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing: scripts/test.sh installs Debian's chromium package", chromium)
		}
		t.Skipf("%s is missing (apt-get install chromium, or run scripts/test.sh)", chromium)
	}
	shot := filepath.Join(dir, "report.png")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// The machine may have no network: these flags keep Chromium from
	// looking anything up (it would hang on it otherwise).
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--user-data-dir="+filepath.Join(dir, "chromium-profile"),
		"--window-size=1100,1800", "--screenshot="+shot, "file://"+file)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v\n%s", err, out)
	}
	img, err := png.Decode(f)
	_ = f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 1100 || b.Dy() != 1800 {
		t.Fatalf("screenshot is %v", b)
	}
	// The charts are drawn: each PSP's colour covers a good many pixels
	// (lines, flow nodes, cost bars), and the page is not blank.
	for _, hex := range palette[:3] {
		if n := countColor(img, hex); n < 2000 {
			t.Errorf("colour %s covers %d pixels of the screenshot: charts not drawn?", hex, n)
		}
	}
	t.Logf("screenshot: %s", shot)
	if keep := os.Getenv("ANALYTICS_TEST_SCREENSHOT_DIR"); keep != "" {
		b, err := os.ReadFile(shot)
		if err != nil {
			t.Fatal(err)
		}
		for name, data := range map[string][]byte{"report.png": b, "report.html": buf.Bytes()} {
			if err := os.WriteFile(filepath.Join(keep, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// countColor counts the pixels within a small distance of a #rrggbb colour.
func countColor(img image.Image, hex string) int {
	v, _ := parseHex(hex)
	want := [3]int{int(v >> 16 & 0xff), int(v >> 8 & 0xff), int(v & 0xff)}
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			got := [3]int{int(r >> 8), int(g >> 8), int(bl >> 8)}
			d := 0
			for i := range got {
				d += abs(got[i] - want[i])
			}
			if d < 24 {
				n++
			}
		}
	}
	return n
}

func parseHex(s string) (uint32, error) {
	var v uint32
	for _, c := range strings.TrimPrefix(s, "#") {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= uint32(c - '0')
		case c >= 'a' && c <= 'f':
			v |= uint32(c-'a') + 10
		}
	}
	return v, nil
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
