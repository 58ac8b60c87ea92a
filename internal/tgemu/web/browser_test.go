package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/procrun"
)

var screenshots = flag.String("screenshots", "", "write the browser test's screenshots here (default: a temp dir)")

// service is one started binary of the stack.
type stack struct {
	t     *testing.T
	bin   string
	logs  string
	procs []*procrun.Process
}

func (s *stack) start(name, readyURL string, env ...string) {
	s.t.Helper()
	env = append([]string{"LOG_FILE=", "LOG_FORMAT=json", "LOG_LEVEL=info"}, env...)
	p, err := procrun.Start(name, filepath.Join(s.bin, name), env, s.logs)
	require.NoError(s.t, err)
	s.procs = append(s.procs, p)
	_, err = p.WaitReady(context.Background(), readyURL, 60*time.Second)
	require.NoError(s.t, err)
}

func (s *stack) stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		if err := s.procs[i].Stop(10 * time.Second); err != nil {
			s.t.Errorf("stop: %v", err)
		}
	}
}

func freeAddr(t *testing.T) string {
	a, err := procrun.FreeAddr()
	require.NoError(t, err)
	return a
}

// startStack builds and starts the emulator, the sender, the example
// downstream and the receiver, wired as `make demo` wires them.
func startStack(t *testing.T) (emuHTTP, senderURL, apiToken string) {
	bin := t.TempDir()
	require.NoError(t, procrun.Build(bin, "github.com/tgbotsvc/tgbot/cmd/tgemu", "github.com/tgbotsvc/tgbot/cmd/receiver",
		"github.com/tgbotsvc/tgbot/cmd/sender", "github.com/tgbotsvc/tgbot/examples/downstream"))

	data := t.TempDir()
	s := &stack{t: t, bin: bin, logs: filepath.Join(data, "logs")}
	t.Cleanup(s.stop)
	emuMT, emuHTTP, sender, downstream, receiver := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	botToken := "7000001:" + randomHex(t)
	apiToken = "test-" + randomHex(t)
	secret := "whsec_" + randomHex(t)
	s.start("tgemu", "http://"+emuHTTP+"/healthz",
		"TGEMU_MTPROTO_ADDR="+emuMT, "TGEMU_HTTP_ADDR="+emuHTTP, "TGEMU_KEY_FILE="+filepath.Join(data, "tgemu.key"),
		"TGEMU_PUBLIC_KEY_FILE="+filepath.Join(data, "tgemu.pub"), "TGEMU_BOT_TOKENS="+botToken)
	tgEnv := []string{"TG_APP_ID=1", "TG_APP_HASH=emulator", "TG_BOT_TOKEN=" + botToken, "TG_DC_ID=2",
		"TG_DC_ADDR=" + emuMT, "TG_PUBLIC_KEY_FILE=" + filepath.Join(data, "tgemu.pub")}
	s.start("sender", "http://"+sender+"/readyz", append([]string{"DATA_DIR=" + filepath.Join(data, "sender"),
		"SENDER_ADDR=" + sender, "SENDER_API_TOKENS=" + apiToken}, tgEnv...)...)
	s.start("downstream", "http://"+downstream+"/healthz", "DOWNSTREAM_ADDR="+downstream,
		"DOWNSTREAM_WEBHOOK_SECRET="+secret, "SENDER_URL=http://"+sender, "SENDER_API_TOKEN="+apiToken)
	s.start("receiver", "http://"+receiver+"/readyz", append([]string{"DATA_DIR=" + filepath.Join(data, "receiver"),
		"RECEIVER_ADDR=" + receiver, "DRIVER=http", "DRIVER_HTTP_URL=http://" + downstream + "/events",
		"DRIVER_HTTP_SECRET=" + secret}, tgEnv...)...)
	return emuHTTP, "http://" + sender, apiToken
}

func randomHex(t *testing.T) string {
	b := make([]byte, 16)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// senderCall posts to the sender's REST API as the downstream service would.
func senderCall(t *testing.T, base, token, path, contentType string, body io.Reader) map[string]any {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+path, body)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Less(t, resp.StatusCode, 300, "%s: %s", path, raw)
	out := map[string]any{}
	require.NoError(t, json.Unmarshal(raw, &out))
	return out
}

func senderJSON(t *testing.T, base, token, path string, body any) map[string]any {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	return senderCall(t, base, token, path, "application/json", bytes.NewReader(b))
}

// TestPageInBrowser chats with the bot through the page in headless
// Chromium, against the real binaries: create a user, /familiarize, see
// the bot's questions live, press an inline button, download a document,
// then watch the bot edit, pin and delete a message and show "typing…",
// send an album as the user and see the bot's album.
func TestPageInBrowser(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if testing.Short() {
			t.Skip("chromium is not installed (apt-get install chromium); skipped under -short")
		}
		t.Fatal("chromium is not installed: apt-get install -y chromium (.ci/run does)")
	}
	shots := *screenshots
	if shots == "" {
		shots = t.TempDir()
	}
	require.NoError(t, os.MkdirAll(shots, 0o755))
	downloads := t.TempDir()

	emuHTTP, senderURL, apiToken := startStack(t)
	page := "http://" + emuHTTP + "/"

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 800))
	defer cancelAlloc()
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	defer cancelTab()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()

	step := 0
	shot := func(name string) {
		t.Helper()
		step++
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		require.NoError(t, err)
		path := filepath.Join(shots, fmt.Sprintf("%02d-%s.png", step, name))
		require.NoError(t, os.WriteFile(path, png, 0o644))
		t.Logf("screenshot: %s", path)
	}
	// waitText waits until the element of sel contains text.
	waitText := func(sel, text string) {
		t.Helper()
		js := fmt.Sprintf(`(document.querySelector(%q) || {}).innerText || ""`, sel)
		var got string
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			var err error
			got, err = chromedp.Run(ctx, chromedp.Evaluate[string](js))
			require.NoError(t, err)
			if strings.Contains(got, text) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("%s does not show %q within 30s; it shows:\n%s", sel, text, got)
	}
	// waitUntil waits until the JavaScript expression js is true.
	waitUntil := func(what, js string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
			require.NoError(t, err)
			if ok {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("%s: not within 30s", what)
	}
	// message is the innerText of the bot's message id on the page.
	message := func(id int) string {
		t.Helper()
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(
			`(document.querySelector('#messages .msg[data-id="%d"]') || {}).innerText || ""`, id)))
		require.NoError(t, err)
		return got
	}
	write := func(text string) {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx, chromedp.Focus(chromedp.ID("text")), chromedp.SendKeys(chromedp.ID("text"), text+"\r")))
	}

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.ID("new-user-name"))))
	waitText("#live", "live")
	waitText("#bot", "@emu7000001_bot")
	shot("page")

	// Create a user from the page: the chat opens, written as that user.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("new-user-name"), "Alice"),
		chromedp.Click(chromedp.CSS(`#new-user button[type="submit"]`))))
	waitText("#users", "Alice")
	waitText("#chat-title", "Alice")
	shot("user-created")

	write("/familiarize")
	waitText("#messages", "What is your name?")
	shot("asked-name")
	write("Alice")
	waitText("#messages", "Nice to meet you Alice!")
	shot("greeted")

	// The downstream service sends, through the sender, a formatted text
	// with an inline button and a document.
	var users struct {
		Users []struct {
			ID        int64  `json:"id"`
			FirstName string `json:"first_name"`
		} `json:"users"`
	}
	resp, err := http.Get("http://" + emuHTTP + "/v1/users")
	require.NoError(t, err)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&users))
	resp.Body.Close()
	var aliceID int64
	for _, u := range users.Users {
		if u.FirstName == "Alice" {
			aliceID = u.ID
		}
	}
	require.NotZero(t, aliceID)
	welcome := senderJSON(t, senderURL, apiToken, "/api_v1/send_message", map[string]any{
		"chat_id": aliceID, "parse_mode": "html",
		"text":    `<b>Welcome</b>, <i>Alice</i>! Your code is <code>A-17</code>, see <a href="https://example.com/terms">the terms</a>.`,
		"buttons": [][]map[string]string{{{"text": "Thanks!", "callback_data": "thanks"}}},
	})
	waitText("#messages", "Welcome, Alice!")
	formatted, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`(() => {
		const last = [...document.querySelectorAll('#messages .msg')].pop();
		const q = (s) => (last.querySelector(s) || {});
		return {bold: q('strong').textContent, italic: q('em').textContent, code: q('code').textContent, href: q('a').href};
	})()`))
	require.NoError(t, err)
	require.Equal(t, map[string]string{"bold": "Welcome", "italic": "Alice", "code": "A-17", "href": "https://example.com/terms"}, formatted)
	shot("formatted-with-button")

	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#messages .keyboard button`))))
	waitText("#toast", "The bot answered “Thanks!”")
	shot("button-answered")

	report := bytes.Repeat([]byte("quarterly report line\n"), 3000)
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	fw, err := mw.CreateFormFile("document", "report.txt")
	require.NoError(t, err)
	_, err = fw.Write(report)
	require.NoError(t, err)
	require.NoError(t, mw.Close())
	doc := senderCall(t, senderURL, apiToken, "/api_v1/create_document", mw.FormDataContentType(), &form)
	senderJSON(t, senderURL, apiToken, "/api_v1/send_document", map[string]any{
		"chat_id": aliceID, "document_id": doc["document_id"], "caption": "Your report",
	})
	waitText("#messages", "report.txt")

	// Download it with the browser and check the bytes.
	done := make(chan string, 1)
	require.NoError(t, chromedp.ListenBrowser(ctx, func(ev any) {
		if p, ok := ev.(*browser.EventDownloadProgress); ok && p.State == browser.DownloadProgressStateCompleted {
			select {
			case done <- p.GUID:
			default:
			}
		}
	}))
	events := true
	_, err = chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads, EventsEnabled: &events,
	})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#messages a.doc`))))
	shot("document")
	select {
	case guid := <-done:
		got, err := os.ReadFile(filepath.Join(downloads, guid))
		require.NoError(t, err)
		want := sha256.Sum256(report)
		gotSum := sha256.Sum256(got)
		require.Equal(t, hex.EncodeToString(want[:]), hex.EncodeToString(gotSum[:]), "the downloaded document")
	case <-time.After(30 * time.Second):
		t.Fatal("the download did not complete within 30s")
	}

	// The bot changes what it sent: each change shows live.
	sent := senderJSON(t, senderURL, apiToken, "/api_v1/send_message", map[string]any{
		"chat_id": aliceID, "text": "Your order ships on Monday",
	})
	orderID := int(sent["message_id"].(float64))
	waitText("#messages", "ships on Monday")
	senderJSON(t, senderURL, apiToken, "/api_v1/edit_message", map[string]any{
		"chat_id": aliceID, "message_id": orderID, "text": "Your order ships on <b>Tuesday</b>", "parse_mode": "html",
	})
	waitUntil("the edit shows", fmt.Sprintf(`(document.querySelector('#messages .msg[data-id="%d"] strong') || {}).textContent === "Tuesday"`, orderID))
	require.Contains(t, message(orderID), "Your order ships on Tuesday")
	require.Contains(t, message(orderID), "edited")
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#messages').innerText`))
	require.NoError(t, err)
	require.NotContains(t, got, "Monday")
	shot("edited")

	senderJSON(t, senderURL, apiToken, "/api_v1/pin_message", map[string]any{"chat_id": aliceID, "message_id": orderID})
	waitText("#pinned", "Your order ships on Tuesday")
	waitText("#pinned", "Pinned message")
	require.Contains(t, message(orderID), "pinned")
	shot("pinned")

	senderJSON(t, senderURL, apiToken, "/api_v1/send_chat_action", map[string]any{"chat_id": aliceID, "action": "typing"})
	waitText("#chat-action", "Bot 7000001 is typing…")
	shot("typing")
	// The bot's next message ends "typing…".
	senderJSON(t, senderURL, apiToken, "/api_v1/send_message", map[string]any{"chat_id": aliceID, "text": "Tracking: 1Z999"})
	waitText("#messages", "Tracking: 1Z999")
	waitUntil("the bot's message ends typing…", `document.querySelector('#chat-action').hidden`)
	// Without a message, an action ends by itself after about 5 seconds.
	senderJSON(t, senderURL, apiToken, "/api_v1/send_chat_action", map[string]any{"chat_id": aliceID, "action": "upload_document"})
	waitText("#chat-action", "is sending a file…")
	waitUntil("the chat action ends", `document.querySelector('#chat-action').hidden`)
	shot("typing-ended")

	del := senderJSON(t, senderURL, apiToken, "/api_v1/delete_messages", map[string]any{"chat_id": aliceID, "message_ids": []int{orderID}})
	require.Equal(t, true, del["results"].([]any)[0].(map[string]any)["ok"], del)
	waitUntil("the deleted message goes", fmt.Sprintf(`!document.querySelector('#messages [data-id="%d"]')`, orderID))
	require.NotContains(t, message(orderID), "Tuesday")
	waitUntil("the pinned banner goes with it", `document.querySelector('#pinned').hidden`)
	waitText("#messages", "Tracking: 1Z999")
	shot("deleted")

	// The user sends an album from the page: one bubble, the photos shown.
	require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("text"), "Our trip"),
		chromedp.Click(chromedp.ID("send-album"))))
	mine := albumPhotos(t, ctx, "#messages .msg.album.mine", 3)
	require.Equal(t, []albumPhoto{
		{Width: 320, Height: 240, Caption: "Our trip"}, {Width: 360, Height: 260}, {Width: 400, Height: 280},
	}, withoutSums(mine))
	shot("album-from-user")

	// The bot sends a media group: its photos, with their bytes, as one album.
	var items []map[string]any
	var want []albumPhoto
	for i, size := range [][2]int{{120, 80}, {80, 120}} {
		pic := testPNG(t, size[0], size[1], uint8(60*i))
		var form bytes.Buffer
		mw := multipart.NewWriter(&form)
		fw, err := mw.CreateFormFile("document", fmt.Sprintf("side-%d.png", i))
		require.NoError(t, err)
		_, err = fw.Write(pic)
		require.NoError(t, err)
		require.NoError(t, mw.WriteField("mime_type", "image/png"))
		require.NoError(t, mw.Close())
		doc := senderCall(t, senderURL, apiToken, "/api_v1/create_document", mw.FormDataContentType(), &form)
		caption := []string{"Front", "Back"}[i]
		items = append(items, map[string]any{"document_id": doc["document_id"], "type": "photo", "caption": caption})
		sum := sha256.Sum256(pic)
		want = append(want, albumPhoto{Width: size[0], Height: size[1], Caption: caption, SHA256: hex.EncodeToString(sum[:])})
	}
	res := senderJSON(t, senderURL, apiToken, "/api_v1/send_media_group", map[string]any{"chat_id": aliceID, "items": items})
	require.Len(t, res["results"], 2, res)
	require.Equal(t, want, albumPhotos(t, ctx, "#messages .msg.album:not(.mine)", 2))
	shot("album-from-bot")

	// Everything at once (the README's screenshot): a pinned message heads
	// the chat while the bot is typing.
	senderJSON(t, senderURL, apiToken, "/api_v1/pin_message", map[string]any{"chat_id": aliceID, "message_id": welcome["message_id"]})
	waitText("#pinned", "Welcome, Alice!")
	senderJSON(t, senderURL, apiToken, "/api_v1/send_chat_action", map[string]any{"chat_id": aliceID, "action": "typing"})
	waitText("#chat-action", "is typing…")
	shot("overview")
}

// albumPhoto is one photo of an album as the page shows it.
type albumPhoto struct {
	Width   int    `json:"width"`
	Height  int    `json:"height"`
	Caption string `json:"caption,omitempty"`
	SHA256  string `json:"sha256,omitempty"`
}

func withoutSums(ps []albumPhoto) []albumPhoto {
	out := make([]albumPhoto, len(ps))
	for i, p := range ps {
		p.SHA256 = ""
		out[i] = p
	}
	return out
}

// albumPhotos waits until the album bubble sel shows n loaded images and
// returns their natural sizes, captions and the SHA-256 of the bytes the
// page loaded them from.
func albumPhotos(t *testing.T, ctx context.Context, sel string, n int) []albumPhoto {
	t.Helper()
	js := fmt.Sprintf(`(async () => {
		const album = [...document.querySelectorAll(%q)].pop();
		if (!album) return null;
		const figures = [...album.querySelectorAll('figure')];
		const imgs = figures.map((f) => f.querySelector('img'));
		if (figures.length !== %d || !imgs.every((i) => i && i.complete && i.naturalWidth > 0)) return null;
		const out = [];
		for (const [k, img] of imgs.entries()) {
			const bytes = await (await fetch(img.currentSrc)).arrayBuffer();
			const sum = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
			const cap = figures[k].querySelector('figcaption');
			out.push({width: img.naturalWidth, height: img.naturalHeight, caption: cap ? cap.textContent : '',
				sha256: [...sum].map((b) => b.toString(16).padStart(2, '0')).join('')});
		}
		return out;
	})()`, sel, n)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]albumPhoto](js, chromedp.EvalAwaitPromise))
		require.NoError(t, err)
		if got != nil {
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s does not show an album of %d loaded photos within 30s", sel, n)
	return nil
}

// testPNG is a w×h PNG of one colour.
func testPNG(t *testing.T, w, h int, shade uint8) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, color.RGBA{R: shade, G: 90, B: 200, A: 255})
		}
	}
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	return buf.Bytes()
}
