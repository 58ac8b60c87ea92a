package tgemu

import (
	"sort"

	"github.com/gotd/td/bin"
	"github.com/gotd/td/tg"
)

// botStop is a user blocking (Stopped) or unblocking a bot. As on Telegram
// it rides on the bot's qts sequence, not pts: getDifference returns the
// ones after the client's qts.
type botStop struct {
	Qts     int   `json:"qts"`
	UserID  int64 `json:"user_id"`
	Date    int   `json:"date"`
	Stopped bool  `json:"stopped"`
}

func (b *botStop) tl() *tg.UpdateBotStopped {
	return &tg.UpdateBotStopped{UserID: b.UserID, Date: b.Date, Stopped: b.Stopped, Qts: b.Qts}
}

// stopsSince returns the bot's stops after qts.
func (a *account) stopsSince(qts int) []*botStop {
	i := sort.Search(len(a.Stops), func(i int) bool { return a.Stops[i].Qts > qts })
	return a.Stops[i:]
}

// botStoppedLocked records and pushes updateBotStopped to bot. s.mu held.
func (s *Server) botStoppedLocked(bot, u *account, stopped bool) {
	bot.Qts++
	st := &botStop{Qts: bot.Qts, UserID: u.ID, Date: int(s.now().Unix()), Stopped: stopped}
	bot.Stops = append(bot.Stops, st)
	if len(bot.Stops) > 2*maxLog {
		bot.Stops = append([]*botStop(nil), bot.Stops[len(bot.Stops)-maxLog:]...)
	}
	s.pushLocked(bot.ID, 0, func() bin.Encoder {
		s.mu.Lock()
		defer s.mu.Unlock()
		return &tg.Updates{
			Updates: []tg.UpdateClass{st.tl()},
			Users:   []tg.UserClass{u.tl(bot.ID), bot.tl(bot.ID)},
			Date:    st.Date,
		}
	})
}
