package markup

import (
	"strconv"
	"strings"
)

// linkEntity is the entity an inline link becomes: a mention for
// tg://user?id=N, a text link for a valid URL, nothing (ok=false) for an
// invalid one, as the Bot API drops such links silently.
func linkEntity(offset, length int, url string) (ent, bool) {
	if id, ok := linkUserID(url); ok {
		return ent{kind: kMentionName, offset: offset, length: length, id: id}, true
	}
	if u, ok := checkedLink(url); ok {
		return ent{kind: kTextURL, offset: offset, length: length, arg: u}, true
	}
	return ent{}, false
}

// positiveID parses a decimal ID as TDLib's to_integer_safe does (optional
// '-', digits only); ok is false for anything but a positive int64.
func positiveID(s string) (int64, bool) {
	if n, ok := parseInt64(s); ok && n > 0 {
		return n, true
	}
	return 0, false
}

// tgQuery returns the query of a tg://<host>?... URL (host compared without
// case, "tg:host?..." and "tg://host/?..." accepted), without the fragment.
func tgQuery(url, host string) (query string, ok bool) {
	lower := strings.ToLower(url)
	if !strings.HasPrefix(lower, "tg:") {
		return "", false
	}
	url, lower = url[3:], lower[3:]
	if strings.HasPrefix(url, "//") {
		url, lower = url[2:], lower[2:]
	}
	if !strings.HasPrefix(lower, host) || (len(url) > len(host) && !strings.ContainsRune("/?#", rune(url[len(host)]))) {
		return "", false
	}
	url = strings.TrimPrefix(url[len(host):], "/")
	if !strings.HasPrefix(url, "?") {
		return "", false
	}
	url = url[1:]
	if i := strings.IndexByte(url, '#'); i >= 0 {
		url = url[:i]
	}
	return url, true
}

// queryValue is the value of the first key=value pair named key.
func queryValue(query, key string) (string, bool) {
	for _, p := range strings.Split(query, "&") {
		k, v, _ := strings.Cut(p, "=")
		if k == key {
			return v, true
		}
	}
	return "", false
}

// linkUserID is the user a tg://user?id=N link mentions.
func linkUserID(url string) (int64, bool) {
	q, ok := tgQuery(strings.ToLower(url), "user")
	if !ok {
		return 0, false
	}
	v, ok := queryValue(q, "id")
	if !ok {
		return 0, false
	}
	return positiveID(v)
}

// customEmojiID is the document ID of a tg://emoji?id=N link; reason says
// what is wrong with the link otherwise.
func customEmojiID(url string) (id int64, reason string) {
	q, ok := tgQuery(url, "emoji")
	if !ok {
		return 0, "Invalid tg://emoji URL specified"
	}
	v, ok := queryValue(q, "id")
	if !ok {
		return 0, "Custom emoji URL must have an emoji identifier"
	}
	n, ok := parseInt64(v)
	if !ok || n == 0 {
		return 0, "Invalid custom emoji identifier specified"
	}
	return n, ""
}

// checkedLink validates a link's URL and returns it in the form Telegram
// stores: http:// added when there is no scheme, scheme and host lower
// case, "/" for an empty path. Only http, https and tg/ton/tonsite links
// pass.
func checkedLink(link string) (string, bool) {
	lower := strings.ToLower(link)
	for _, scheme := range []string{"tg", "ton", "tonsite"} {
		if strings.HasPrefix(lower, scheme+":") {
			return checkedAppLink(scheme, strings.TrimPrefix(link[len(scheme)+1:], "//"))
		}
	}
	scheme := "http"
	switch {
	case strings.HasPrefix(lower, "http://"):
		link = link[len("http://"):]
	case strings.HasPrefix(lower, "https://"):
		scheme, link = "https", link[len("https://"):]
	case strings.Contains(pathless(lower), "://"):
		return "", false // another protocol
	}
	hostEnd := strings.IndexAny(link, "/?#")
	if hostEnd < 0 {
		hostEnd = len(link)
	}
	authority, rest := link[:hostEnd], link[hostEnd:]
	authority, ok := checkedAuthority(authority)
	if !ok || strings.ContainsAny(rest, " \t\r\n") {
		return "", false
	}
	if rest == "" || rest[0] != '/' {
		rest = "/" + rest
	}
	return scheme + "://" + authority + rest, true
}

// checkedAuthority checks [user@]host[:port] of an http(s) URL: a host with
// a dot (or an IPv6 address) and a numeric port; it lower-cases the host.
func checkedAuthority(authority string) (string, bool) {
	userinfo := ""
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		userinfo, authority = authority[:at+1], authority[at+1:]
	}
	host, port := authority, ""
	if c := strings.LastIndexByte(authority, ':'); c >= 0 && !strings.HasPrefix(authority, "[") {
		host, port = authority[:c], authority[c:]
		if _, err := strconv.ParseUint(port[1:], 10, 16); err != nil {
			return "", false
		}
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		return userinfo + host + port, true
	}
	if !strings.Contains(host, ".") || strings.HasPrefix(host, ".") || strings.Contains(host, "..") {
		return "", false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !isAlnum(c) && c != '-' && c != '.' && c != '_' && c != '~' && c < 0x80 {
			return "", false
		}
	}
	return userinfo + strings.ToLower(host) + port, true
}

func pathless(s string) string {
	if i := strings.IndexAny(s, "/?#"); i >= 0 && !strings.HasPrefix(s[i:], "//") {
		return s[:i]
	}
	return s
}

// checkedAppLink checks tg://, ton:// and tonsite:// links: a host of
// letters, digits, - and _ (and dots for tonsite), no port, no user.
func checkedAppLink(scheme, rest string) (string, bool) {
	lower := strings.ToLower(rest)
	if strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://") {
		return "", false
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	host, query := strings.ToLower(rest[:end]), rest[end:]
	if host == "" || strings.ContainsAny(query, " \t\r\n") {
		return "", false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !isAlnum(c) && c != '-' && c != '_' && !(scheme == "tonsite" && c == '.') {
			return "", false
		}
	}
	if query == "" || query[0] != '/' {
		query = "/" + query
	}
	if len(query) > 1 && query[1] == '?' {
		query = query[1:]
	}
	return scheme + "://" + host + query, true
}
