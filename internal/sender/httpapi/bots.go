package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/tgbotsvc/tgbot/internal/bots"
	"github.com/tgbotsvc/tgbot/internal/sender/send"
)

// Bot is one bot the API sends as: its gateway (client, rate limits, flood
// waits, peers), its job runner and its store. Nothing of one bot slows
// another.
type Bot struct {
	// ID is the bot's user ID; 0 until login for a session without a
	// token (then GW.BotID() tells it).
	ID     int64
	GW     Gateway
	Runner Runner
	Store  JobStore
}

// BotID is the bot's user ID (0 before a tokenless session logged in).
func (b *Bot) BotID() int64 {
	if b.ID != 0 {
		return b.ID
	}
	return b.GW.BotID()
}

// Bots is the set of bots the API can send as, safe for concurrent use: the
// service adds and removes bots while the API serves.
type Bots struct {
	mu   sync.RWMutex
	list []*Bot
}

// Add puts b in the set (replacing a bot with the same ID).
func (s *Bots) Add(b *Bot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, o := range s.list {
		if o.ID == b.ID {
			s.list[i] = b
			return
		}
	}
	s.list = append(s.list, b)
}

// Remove takes bot id out of the set and returns it (nil if absent).
func (s *Bots) Remove(id int64) *Bot {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, b := range s.list {
		if b.ID == id {
			s.list = append(s.list[:i:i], s.list[i+1:]...)
			return b
		}
	}
	return nil
}

// All returns the bots in the order they were added.
func (s *Bots) All() []*Bot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]*Bot(nil), s.list...)
}

// Pick resolves the "bot" of a request: a bot ID or username (with or
// without @), or "" for the only bot. Several bots and no name is
// bot_required (400, listing them); a name no bot has is bot_not_found
// (404).
func (s *Bots) Pick(ref string) (*Bot, error) {
	all := s.All()
	if ref == "" {
		if len(all) == 1 {
			return all[0], nil
		}
		if len(all) == 0 {
			return nil, send.Unavailable("no bot is configured", nil)
		}
		return nil, &send.Error{Kind: send.KindInvalid, Code: "bot_required", Field: "bot",
			Message: "several bots send here: name one in \"bot\" (ID or username): " + describe(all)}
	}
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		for _, b := range all {
			if b.BotID() == id {
				return b, nil
			}
		}
	} else {
		name := strings.TrimPrefix(ref, "@")
		for _, b := range all {
			if u := b.GW.Username(); u != "" && strings.EqualFold(u, name) {
				return b, nil
			}
		}
	}
	return nil, &send.Error{Kind: send.KindNotFound, Code: "bot_not_found", Field: "bot",
		Message: fmt.Sprintf("no bot %q sends here; the bots are: %s", ref, describe(all))}
}

// describe lists bots as "123 (@a_bot), 456".
func describe(all []*Bot) string {
	parts := make([]string, 0, len(all))
	for _, b := range all {
		p := strconv.FormatInt(b.BotID(), 10)
		if u := b.GW.Username(); u != "" {
			p += " (@" + u + ")"
		}
		parts = append(parts, p)
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// botView is an entry of GET /api_v1/bots.
type botView struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Ready    bool   `json:"ready"`
}

// Ready is nil when there are bots and every one's client is connected
// and authorized, else the reason, as an unavailable error.
func (s *Bots) Ready() error {
	all := s.All()
	if len(all) == 0 {
		return send.Unavailable("no bot is configured", nil)
	}
	for _, b := range all {
		if !b.GW.Ready() {
			return send.Unavailable(fmt.Sprintf("the Telegram client of bot %d is not connected and authorized", b.BotID()), nil)
		}
	}
	return nil
}

// Infos describes the bots by ID: ready once their client is connected and
// authorized, starting before. Tokens never appear.
func (s *Bots) Infos() []bots.Info {
	all := s.All()
	out := make([]bots.Info, 0, len(all))
	for _, b := range all {
		in := bots.Info{ID: b.BotID(), Username: b.GW.Username(), Status: bots.StatusStarting}
		if b.GW.Ready() {
			in.Status = bots.StatusReady
		}
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (a *API) listBots(w http.ResponseWriter, _ *http.Request) {
	infos := a.bots.Infos()
	out := make([]botView, 0, len(infos))
	for _, in := range infos {
		out = append(out, botView{ID: in.ID, Username: in.Username, Ready: in.Status == bots.StatusReady})
	}
	writeJSON(w, http.StatusOK, map[string]any{"bots": out})
}

// botRef reads the "bot" member of a JSON body: a number or a string
// (ID or username). An array body (the list form of the bulk endpoints)
// names its bot in its items, all the same. "" means none named.
func botRef(data []byte) (string, error) {
	data = bytes.TrimSpace(data)
	if isArray(data) {
		var items []struct {
			Bot json.RawMessage `json:"bot"`
		}
		if json.Unmarshal(data, &items) != nil {
			return "", nil // the strict decoder reports it
		}
		refs := make([]json.RawMessage, len(items))
		for i, it := range items {
			refs[i] = it.Bot
		}
		return listBotRef(refs)
	}
	var body struct {
		Bot json.RawMessage `json:"bot"`
	}
	if json.Unmarshal(data, &body) != nil {
		return "", nil // the strict decoder reports it
	}
	return parseBotRef(body.Bot, "bot")
}

// listBotRef is the bot the items of a list body name: all the same one.
func listBotRef(refs []json.RawMessage) (string, error) {
	ref := ""
	for i, raw := range refs {
		r, err := parseBotRef(raw, fmt.Sprintf("[%d].bot", i))
		if err != nil {
			return "", err
		}
		if i > 0 && r != ref {
			return "", send.Invalid(fmt.Sprintf("[%d].bot", i), "every item must name the same bot")
		}
		ref = r
	}
	return ref, nil
}

func parseBotRef(raw json.RawMessage, field string) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		if id, err := n.Int64(); err == nil && id > 0 {
			return strconv.FormatInt(id, 10), nil
		}
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if s = strings.TrimPrefix(strings.TrimSpace(s), "@"); s != "" {
			return s, nil
		}
	}
	return "", send.Invalid(field, "bot must be a bot's ID (a positive integer) or its username")
}

// pick resolves the bot a request names (ref and err from reading it).
func (a *API) pick(ref string, err error) (*Bot, error) {
	if err != nil {
		return nil, err
	}
	return a.bots.Pick(ref)
}

// document makes document id sendable by bot: known to it, or created by
// another bot and adopted (uploaded again by this bot from the kept copy).
func (a *API) document(ctx context.Context, bot *Bot, id string) error {
	_, err := bot.GW.Document(id)
	if e := send.As(err); err == nil || e.Kind != send.KindNotFound {
		return err
	}
	for _, other := range a.bots.All() {
		if other == bot {
			continue
		}
		doc, oerr := other.GW.Document(id)
		if oerr != nil {
			continue
		}
		_, err := bot.GW.Adopt(ctx, doc)
		return err
	}
	return err
}

// botScope is the part of an idempotency key's scope that names the bot of
// a request: "bot=<id>|", or "" when the request names none (so keys used
// before a second bot was added keep their meaning). A bot that cannot be
// resolved is scoped by the name given; the handler refuses it anyway.
func (a *API) botScope(r *http.Request, body []byte) string {
	var ref string
	if form := documentFormOf(r.Context()); form != nil {
		ref = form.bot
	} else {
		var err error
		if ref, err = botRef(body); err != nil {
			return ""
		}
	}
	if ref == "" {
		return ""
	}
	if b, err := a.bots.Pick(ref); err == nil {
		return "bot=" + strconv.FormatInt(b.BotID(), 10) + "|"
	}
	return "bot=" + ref + "|"
}
