package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/mail/smtptest"
)

// relayTimeout shortens the binary's SMTP greeting, command and data
// timeouts (30 s, 30 s, 2 min) through BANTIN_TEST_SMTP_TIMEOUT: three
// tries of a silent relay then cost 3 × 0.5 s plus the real pauses of
// 2 s and 4 s (±20%) instead of about 96 s. Nothing else is shortened.
const relayTimeout = "500ms"

// relayEnv is the binary's environment for these tests.
func relayEnv() []string {
	return append(cleanEnv(), "BANTIN_TEST_SMTP_TIMEOUT="+relayTimeout)
}

// TestDigestSendToSilentRelayEndsAfterRelayTries: `bantin digest send` to
// a relay that accepts and never greets ends after a few tries of the
// relay (a few dials for all 4 connections, not one per batch) with exit
// 1, names the relay and the 200 copies that wait, and leaves every copy
// queued with no bounce; serve, started while the relay is still silent,
// says so once, and delivers every copy once by itself when the relay
// comes back.
func TestDigestSendToSilentRelayEndsAfterRelayTries(t *testing.T) {
	const subscribers = 200
	silent := smtptest.StartSilent(t)
	addr := freeAddr(t)
	dir := digestDir(t, addr, silent.Port)
	var csv strings.Builder
	for i := range subscribers {
		fmt.Fprintf(&csv, "doc-gia-%03d@example.vn,Độc giả %d\n", i, i)
	}
	if err := os.WriteFile(filepath.Join(dir, "subs.csv"), []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, dir, 0, "subscribers", "import", "sang", "subs.csv", "--confirmed")

	cmd := exec.Command(binary(t), "digest", "send", "sang")
	cmd.Dir, cmd.Env = dir, relayEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	code := cmd.ProcessState.ExitCode()
	t.Logf("digest send to a silent relay: exit %d after %v, %d dials\nstdout: %sstderr: %s", code, elapsed.Round(time.Millisecond),
		silent.Dials(), stdout.String(), stderr.String())
	if code != 1 {
		t.Fatalf("digest send to a silent relay: %v, exit %d; want 1", err, code)
	}
	// 0.5 + 2 + 0.5 + 4 + 0.5 s, the pauses ±20%, and the start.
	if elapsed > 20*time.Second {
		t.Errorf("digest send took %v; want about 8 s (three tries of the relay)", elapsed)
	}
	if want := fmt.Sprintf("%d copies of sang issue 1 wait", subscribers); !strings.Contains(stderr.String(), silent.Addr) ||
		!strings.Contains(stderr.String(), want) {
		t.Errorf("stderr does not name the relay %s and say %q:\n%s", silent.Addr, want, stderr.String())
	}
	// 4 connections dial together once, then one probe per later try;
	// one dial per batch of 20 would be 10.
	if d := silent.Dials(); d > 6 {
		t.Errorf("the relay saw %d dials; want at most 6", d)
	}

	d := startServeEnv(t, dir, addr, "BANTIN_TEST_SMTP_TIMEOUT="+relayTimeout)
	type issues struct {
		Issues []struct {
			Status string         `json:"status"`
			Counts map[string]int `json:"counts"`
		} `json:"issues"`
	}
	var list issues
	api(t, "GET", "http://"+addr+"/api/v1/newsletters/sang/issues", &list)
	if len(list.Issues) != 1 || list.Issues[0].Counts["queued"] != subscribers || list.Issues[0].Counts["failed"] != 0 {
		t.Errorf("after digest send: issues %+v; want one with all %d copies queued, none failed", list.Issues, subscribers)
	}
	const downLog = "the relay cannot be reached; sending paused"
	waitFor(t, 20*time.Second, "serve to give up on the silent relay", func() bool {
		return strings.Contains(d.logs.String(), downLog)
	})
	var subs struct {
		Subscribers []struct {
			Bounces int `json:"bounces"`
		} `json:"subscribers"`
	}
	api(t, "GET", "http://"+addr+"/api/v1/subscribers?list=sang", &subs)
	bounces := 0
	for _, s := range subs.Subscribers {
		bounces += s.Bounces
	}
	if len(subs.Subscribers) != subscribers || bounces != 0 {
		t.Errorf("%d subscribers with %d bounces; want %d with none", len(subs.Subscribers), bounces, subscribers)
	}

	silent.Close()
	srv := smtptest.Start(t, smtptest.Options{Addr: silent.Addr})
	back := time.Now()
	waitFor(t, 40*time.Second, "serve to send every copy once the relay is back", func() bool {
		_, distinct := received(srv.Counts())
		return distinct >= subscribers
	})
	waitFor(t, 10*time.Second, "the issue to be marked sent", func() bool {
		api(t, "GET", "http://"+addr+"/api/v1/newsletters/sang/issues", &list)
		return len(list.Issues) == 1 && list.Issues[0].Status == "sent" && list.Issues[0].Counts["sent"] == subscribers
	})
	t.Logf("serve sent every copy %v after the relay came back", time.Since(back).Round(time.Millisecond))
	total, distinct := received(srv.Counts())
	if total != subscribers || distinct != subscribers {
		t.Errorf("%d copies to %d subscribers; want one each to %d", total, distinct, subscribers)
	}
	if n := strings.Count(d.logs.String(), "digest: "+downLog); n != 1 {
		t.Errorf("serve said the relay was down %d times; want once per outage", n)
	}
}
