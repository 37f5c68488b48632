package e2e

import (
	"bytes"
	"fmt"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// hostileNote is a tag value and part of a commit message: the dashboard
// must show it as text, never run it or pass its escapes through.
const hostileNote = `<script>window.__xss=1</script>"'&`

// TestDashboardBrowser drives the agent's dashboard in headless Chromium
// (Debian's chromium) against a real agent, redis-server, SSH test hosts
// and a git daemon: the fleet page lists the hosts with their SHAs; a push
// shows the new SHA without a reload; a run's log streams while it runs;
// the fleet page fits a phone's width; the deliveries are still listed
// after the agent restarts; every page is captured and checked non-blank
// (saved as test artifacts; CL_UPDATE_SCREENSHOTS=1 also writes
// docs/img/dashboard-*.png).
func TestDashboardBrowser(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("no chromium: apt-get install chromium (scripts/deps.sh installs it)")
	}
	CL(t) // built before the clock starts
	a := newAgentFleet(t)
	ctx := ctxFor(t, 3*time.Minute)
	h0 := a.f.Hosts[0]
	cfgText, err := os.ReadFile(a.cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr := "    address: " + h0.Addr + "\n"
	cfg := strings.Replace(string(cfgText), addr, addr+"    tags:\n      note: \"<script>window.__xss=1</script>\\e[31mred\\e[0m\"\n      dc: ams\n", 1)
	cfg = strings.Replace(cfg, `cron: "0 1 * * *"`, `cron: "*/2 * * * * *"`, 1) // the beat fires hello every 2 s
	a.write("cl.yaml", cfg)
	a.write("tasks/checks.yaml", agentTasks+"  slow:\n    description: counts slowly\n    script: checks/slow.sh\n")
	a.write("tasks/checks/slow.sh", "#!/bin/sh\nfor i in 1 2 3 4 5 6; do echo \"line $i\"; sleep 1; done\n")
	first := a.push("dashboard " + hostileNote + " \x1b[31mred\x1b[0m")
	agentArgs := []string{"--interval", "1h", "--drift-interval", "3s"}
	agent1 := a.startAgent(ctx, agentArgs...)
	a.waitStatus(90*time.Second, "first apply", func(s agentStatus) bool { return s.Applied == first })
	base := "http://" + a.api

	// The dashboard answers loopback clients; anything but GET is refused.
	if resp, err := http.Post(base+"/ui/", "text/plain", nil); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /ui/: %v %v", resp.StatusCode, err)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 900), chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancel := chromedp.NewExecAllocator(ctx, opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	do := func(what string, acts ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, acts...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return s
	}
	evalInt := func(js string) int {
		t.Helper()
		n, err := chromedp.Run(bctx, chromedp.Evaluate[int](js))
		if err != nil {
			t.Fatalf("eval %s: %v", js, err)
		}
		return n
	}
	waitText := func(sel, want string, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			got, _ := chromedp.Run(bctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q)||{}).innerText||""`, sel)))
			if strings.Contains(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s does not show %q within %s; it shows:\n%s", sel, want, within, got)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	shots := map[string][]byte{}
	shoot := func(name string) {
		t.Helper()
		buf, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		checkNotBlank(t, name, buf)
		shots[name] = buf
	}

	// Fleet: every host with the SHA it runs; the hostile tag as text.
	do("open the fleet page", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("table.fleet")))
	for _, h := range a.f.Hosts {
		waitText("#live", h.Name, 5*time.Second)
	}
	waitText("#live", first[:12], 5*time.Second)
	if live := text("#live"); !strings.Contains(live, "<script>window.__xss=1</script>red") || strings.Contains(live, "\x1b") {
		t.Errorf("the hostile tag is not shown as plain text:\n%s", live)
	}
	xss, scripts := evalInt(`window.__xss||0`), evalInt(`document.querySelectorAll('main script').length`)
	if xss != 0 || scripts != 0 {
		t.Fatalf("hostile text ran or became a script element (__xss %d, scripts %d)", xss, scripts)
	}
	evalInt(`window.__noReload=1`)

	// A push: the page shows the new SHA without a reload.
	a.write("tasks/checks/hello.sh", "#!/bin/sh\necho hello from the dashboard test\n")
	second := a.push("hello again")
	if code := a.hook("main"); code != http.StatusAccepted {
		t.Fatalf("webhook: %d", code)
	}
	waitText("#applied-sha", second[:12], 60*time.Second)
	waitText("#live", second[:12], 10*time.Second)
	if evalInt(`window.__noReload||0`) != 1 {
		t.Fatal("the page reloaded to show the new SHA; it should update in place")
	}
	shoot("fleet")

	// A phone (390×844): no horizontal scrolling of the page, whatever a
	// table needs scrolls inside it; every host name is on the screen.
	phone := chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulatePortrait)
	do("emulate a phone", phone, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("table.fleet")))
	waitText("#live", second[:12], 5*time.Second)
	fits := func(page string) {
		t.Helper()
		if w, sw := evalInt(`window.innerWidth`), evalInt(`document.documentElement.scrollWidth`); w != 390 || sw > w {
			t.Errorf("%s on a phone: the page is %d px wide in a %d px viewport (want 390, no horizontal scrolling)", page, sw, w)
		}
	}
	fits("fleet")
	for _, h := range a.f.Hosts {
		js := fmt.Sprintf(`(() => { const a = [...document.querySelectorAll('table.fleet tbody th a')].find(e => e.textContent === %q);
  if (!a) return 0; const r = a.getBoundingClientRect(); return r.width > 0 && r.left >= 0 && r.right <= window.innerWidth ? 1 : 0; })()`, h.Name)
		if evalInt(js) != 1 {
			t.Errorf("host %s is not visible on the phone's screen", h.Name)
		}
	}
	shoot("fleet-phone")
	for _, page := range []string{"/ui/hosts/" + h0.Name, "/ui/applies", "/ui/deliveries", "/ui/tasks"} {
		do("open "+page+" on a phone", chromedp.Navigate(base+page), chromedp.WaitVisible(chromedp.CSS("#live")))
		fits(page)
	}
	do("back to the desktop", chromedp.ResetViewport())

	// A host: facts and releases from the agent's drift check.
	do("open a host", chromedp.Navigate(base+"/ui/hosts/"+h0.Name), chromedp.WaitVisible(chromedp.CSS("dl.facts")))
	waitText("#live", "Kernel", 30*time.Second)
	waitText("#live", second+" current", 30*time.Second)
	shoot("host")

	// Applies: the history with the commit's subject, author, signature.
	do("open the applies", chromedp.Navigate(base+"/ui/applies"), chromedp.WaitVisible(chromedp.CSS("#live")))
	waitText("#live", "dashboard "+hostileNote+" red", 10*time.Second)
	waitText("#live", "by e2e, unsigned", 5*time.Second)
	shoot("applies")

	// A restart: the webhook deliveries are still listed (kept in Redis).
	before := a.status().Deliveries
	if len(before) == 0 || before[0].ID == "" {
		t.Fatalf("no delivery with an id in the status before the restart: %+v", before)
	}
	agent1.stop(t)
	a.api = a.startAgent(ctx, agentArgs...).api
	base = "http://" + a.api
	a.waitStatus(60*time.Second, "the restarted agent's first sync", func(s agentStatus) bool { return s.Head == second && s.Applied == second })
	if after := a.status().Deliveries; len(after) != len(before) || after[0] != before[0] {
		t.Errorf("deliveries after the restart: %+v, want %+v", after, before)
	}
	do("open the deliveries", chromedp.Navigate(base+"/ui/deliveries"), chromedp.WaitVisible(chromedp.CSS("#live table")))
	waitText("#live", before[0].ID, 5*time.Second)
	waitText("#live", "accepted", 5*time.Second)
	shoot("deliveries")

	// A run: its log streams while it runs, then ends.
	out, stderr, code := a.cl(ctx, "task", "run", "slow", "--target", h0.Name)
	if code != 0 {
		t.Fatalf("task run: exit %d\n%s%s", code, out, stderr)
	}
	id := strings.TrimSpace(out)
	do("open the run", chromedp.Navigate(base+"/ui/runs/"+id), chromedp.WaitReady(chromedp.CSS("#log")))
	waitText("#log", "line 1", 30*time.Second)
	if evalInt(`document.getElementById('log').dataset.done ? 1 : 0`) != 0 || strings.Contains(text("#log"), "line 6") {
		t.Fatalf("the log arrived whole, not streamed: %q", text("#log"))
	}
	waitText("#log-status", "Log complete: succeeded exit 0", 30*time.Second)
	if log := text("#log"); !strings.Contains(log, "line 1\nline 2\nline 3\nline 4\nline 5\nline 6") {
		t.Errorf("the streamed log is not the task's output in order:\n%s", log)
	}
	waitText("#live", "succeeded", 5*time.Second)
	shoot("run")

	// Tasks: the finished run, the queues, the schedule's last fire and
	// its result on each web host (a beat fires it every 2 s).
	startBeatProc(t, a.cfg, t.TempDir(), "b1", 2*time.Second)
	do("open the tasks", chromedp.Navigate(base+"/ui/tasks"), chromedp.WaitVisible(chromedp.CSS("#live")))
	waitText("#live", id, 5*time.Second)
	waitText("#schedules", a.f.Hosts[0].Name+": succeeded", 40*time.Second)
	waitText("#schedules", a.f.Hosts[1].Name+": succeeded", 10*time.Second)
	waitText("#live", "Leader", 5*time.Second)
	shoot("tasks")

	dir := t.ArtifactDir()
	update := os.Getenv("CL_UPDATE_SCREENSHOTS") == "1"
	for name, b := range shots {
		if err := os.WriteFile(filepath.Join(dir, "dashboard-"+name+".png"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if update {
			if err := os.WriteFile(filepath.Join("..", "docs", "img", "dashboard-"+name+".png"), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("screenshots in %s", dir)
}

// checkNotBlank fails unless the PNG has content: enough pixels unlike the
// background and more than a handful of colours.
func checkNotBlank(t *testing.T, name string, b []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	bounds := img.Bounds()
	bg := img.At(bounds.Min.X, bounds.Min.Y)
	colours := map[[4]uint32]bool{}
	differ, total := 0, 0
	for y := bounds.Min.Y; y < bounds.Max.Y; y += 2 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 2 {
			c := img.At(x, y)
			r, g, bl, al := c.RGBA()
			colours[[4]uint32{r >> 8, g >> 8, bl >> 8, al >> 8}] = true
			if c != bg {
				differ++
			}
			total++
		}
	}
	if bounds.Dx() < 200 || differ*100 < total || len(colours) < 8 {
		t.Fatalf("screenshot %s looks blank: %dx%d, %d of %d pixels differ from the background, %d colours", name, bounds.Dx(), bounds.Dy(), differ, total, len(colours))
	}
}
