package handler

import (
	"context"
	"regexp"
	"strings"
	"sync/atomic"
)

type matcher func(u *Update, bot string) (args string, match []string, ok bool)

type route struct {
	name  string
	match matcher
	h     Handler
}

// Router picks the first registered route that matches an update. It is
// configured before the runner starts and read-only afterwards.
type Router struct {
	routes []route
	bot    atomic.Pointer[string] // the bot's username, for /cmd@bot
}

// NewRouter returns an empty router.
func NewRouter() *Router { return &Router{} }

// SetBotUsername tells the router its own username, so that "/cmd@other"
// in a group is left to the other bot.
func (r *Router) SetBotUsername(name string) { r.bot.Store(&name) }

func (r *Router) botUsername() string {
	if p := r.bot.Load(); p != nil {
		return *p
	}
	return ""
}

// Command routes messages starting with /name (or /name@thisbot) to h; the
// rest of the text is Context.Args.
func (r *Router) Command(name string, h Handler) {
	name = strings.TrimPrefix(name, "/")
	r.routes = append(r.routes, route{name: "/" + name, h: h, match: func(u *Update, bot string) (string, []string, bool) {
		cmd, args, ok := ParseCommand(u.Text(), bot)
		if !ok || u.Kind() != KindMessage || !strings.EqualFold(cmd, name) {
			return "", nil, false
		}
		return args, nil, true
	}})
}

// Text routes new messages whose text matches re to h; the submatches are
// Context.Match.
func (r *Router) Text(re *regexp.Regexp, h Handler) {
	r.routes = append(r.routes, route{name: "text:" + re.String(), h: h, match: func(u *Update, _ string) (string, []string, bool) {
		if u.Kind() != KindMessage {
			return "", nil, false
		}
		m := re.FindStringSubmatch(u.Text())
		return "", m, m != nil
	}})
}

// On routes every update of a kind to h.
func (r *Router) On(kind Kind, h Handler) {
	r.routes = append(r.routes, route{name: "kind:" + string(kind), h: h, match: func(u *Update, _ string) (string, []string, bool) {
		return "", nil, u.Kind() == kind
	}})
}

// route finds the handler for u.
func (r *Router) route(u *Update) (route, string, []string, bool) {
	bot := r.botUsername()
	for _, rt := range r.routes {
		if args, m, ok := rt.match(u, bot); ok {
			return rt, args, m, true
		}
	}
	return route{}, "", nil, false
}

// isCommand reports whether u is a /command some route handles.
func (r *Router) isCommand(u *Update) bool {
	if _, _, ok := ParseCommand(u.Text(), r.botUsername()); !ok {
		return false
	}
	rt, _, _, ok := r.route(u)
	return ok && strings.HasPrefix(rt.name, "/")
}

// Handle implements Handler: it runs the first matching route, or does
// nothing.
func (r *Router) Handle(ctx context.Context, c *Context) error {
	rt, args, m, ok := r.route(c.Update)
	if !ok {
		return nil
	}
	c.Route, c.Args, c.Match = rt.name, args, m
	return rt.h.Handle(ctx, c)
}

// ParseCommand splits "/cmd@bot args" into "cmd" and "args". ok is false
// when text is not a command, or is addressed to a bot other than bot (when
// bot is known).
func ParseCommand(text, bot string) (cmd, args string, ok bool) {
	if !strings.HasPrefix(text, "/") || len(text) < 2 {
		return "", "", false
	}
	first, rest, _ := strings.Cut(text[1:], " ")
	if i := strings.IndexAny(first, "\n\t"); i >= 0 {
		rest = first[i+1:] + " " + rest
		first = first[:i]
	}
	cmd, target, hasTarget := strings.Cut(first, "@")
	if cmd == "" || (hasTarget && bot != "" && !strings.EqualFold(target, bot)) {
		return "", "", false
	}
	return cmd, strings.TrimSpace(rest), true
}
