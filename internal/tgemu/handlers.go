package tgemu

import (
	"net"
	"strconv"
	"strings"

	"github.com/gotd/td/bin"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
	"go.uber.org/zap"
)

// maxDifference is the number of updates one getDifference returns before
// answering with a slice (the client then asks again).
const maxDifference = 1000

// buildRoutes lists every method the emulator implements, in one place.
// Anything else is answered with 400 METHOD_INVALID.
func (s *Server) buildRoutes() map[uint32]route {
	return map[uint32]route{
		tg.HelpGetConfigRequestTypeID:                    handler(true, s.helpGetConfig),
		tg.HelpGetNearestDCRequestTypeID:                 handler(true, s.helpGetNearestDC),
		tg.AuthImportBotAuthorizationRequestTypeID:       handler(true, s.authImportBotAuthorization),
		tg.AuthLogOutRequestTypeID:                       handler(false, s.authLogOut),
		tg.UsersGetUsersRequestTypeID:                    handler(false, s.usersGetUsers),
		tg.ContactsResolveUsernameRequestTypeID:          handler(false, s.contactsResolveUsername),
		tg.UpdatesGetStateRequestTypeID:                  handler(false, s.updatesGetState),
		tg.UpdatesGetDifferenceRequestTypeID:             handler(false, s.updatesGetDifference),
		tg.MessagesSendMediaRequestTypeID:                handler(false, s.messagesSendMedia),
		tg.MessagesSendMultiMediaRequestTypeID:           handler(false, s.messagesSendMultiMedia),
		tg.MessagesUploadMediaRequestTypeID:              handler(false, s.messagesUploadMedia),
		tg.MessagesGetMessagesRequestTypeID:              handler(false, s.messagesGetMessages),
		tg.UploadSaveFilePartRequestTypeID:               handler(false, s.uploadSaveFilePart),
		tg.UploadSaveBigFilePartRequestTypeID:            handler(false, s.uploadSaveBigFilePart),
		tg.UploadGetFileRequestTypeID:                    handler(false, s.uploadGetFile),
		tg.MessagesSendMessageRequestTypeID:              handler(false, s.messagesSendMessage),
		tg.MessagesSetBotCallbackAnswerRequestTypeID:     handler(false, s.messagesSetBotCallbackAnswer),
		tg.BotsSetBotCommandsRequestTypeID:               handler(false, s.botsSetBotCommands),
		tg.MessagesSetTypingRequestTypeID:                handler(false, s.messagesSetTyping),
		tg.UpdatesGetChannelDifferenceRequestTypeID:      handler(false, s.updatesGetChannelDifference),
		tg.UsersGetFullUserRequestTypeID:                 handler(false, s.usersGetFullUser),
		tg.AccountUpdateStatusRequestTypeID:              handler(false, s.accountUpdateStatus),
		tg.MessagesGetBotCallbackAnswerRequestTypeID:     handler(false, s.messagesGetBotCallbackAnswer),
		tg.ContactsGetContactsRequestTypeID:              handler(false, s.contactsGetContacts),
		tg.BotsResetBotCommandsRequestTypeID:             handler(false, s.botsResetBotCommands),
		tg.AuthSendCodeRequestTypeID:                     handler(true, s.authSendCode),
		tg.AuthSignInRequestTypeID:                       handler(true, s.authSignIn),
		tg.AccountGetPasswordRequestTypeID:               handler(true, s.accountGetPassword),
		tg.AuthCheckPasswordRequestTypeID:                handler(true, s.authCheckPassword),
		tg.HelpGetAppConfigRequestTypeID:                 handler(true, s.helpGetAppConfig),
		tg.LangpackGetLangPackRequestTypeID:              handler(true, s.langpackGetLangPack),
		tg.ChannelsGetChannelsRequestTypeID:              handler(false, s.channelsGetChannels),
		tg.MessagesSetBotPrecheckoutResultsRequestTypeID: handler(false, s.messagesSetBotPrecheckoutResults),
		tg.MessagesEditMessageRequestTypeID:              handler(false, s.messagesEditMessage),
		tg.MessagesDeleteMessagesRequestTypeID:           handler(false, s.messagesDeleteMessages),
		tg.MessagesUpdatePinnedMessageRequestTypeID:      handler(false, s.messagesUpdatePinnedMessage),
		tg.ChannelsGetFullChannelRequestTypeID:           handler(false, s.channelsGetFullChannel),
		tg.ChannelsDeleteMessagesRequestTypeID:           handler(false, s.channelsDeleteMessages),
		tg.ChannelsGetMessagesRequestTypeID:              handler(false, s.channelsGetMessages),
	}
}

func (s *Server) helpGetConfig(c *call, _ *tg.HelpGetConfigRequest) (bin.Encoder, error) {
	host, port := s.publicAddr()
	now := int(s.now().Unix())
	// The client replaces its DC list with these options: they must point
	// back at this server or reconnects go nowhere.
	return &tg.Config{
		Date:                    now,
		Expires:                 now + 3600,
		ThisDC:                  DCID,
		DCOptions:               []tg.DCOption{{ID: DCID, IPAddress: host, Port: port}},
		ChatSizeMax:             200,
		MegagroupSizeMax:        200000,
		ForwardedCountMax:       100,
		OnlineUpdatePeriodMs:    210000,
		OfflineBlurTimeoutMs:    5000,
		OfflineIdleTimeoutMs:    30000,
		OnlineCloudTimeoutMs:    300000,
		NotifyCloudDelayMs:      30000,
		NotifyDefaultDelayMs:    1500,
		PushChatPeriodMs:        60000,
		PushChatLimit:           2,
		EditTimeLimit:           172800,
		RevokeTimeLimit:         172800,
		RevokePmTimeLimit:       172800,
		RatingEDecay:            2419200,
		StickersRecentLimit:     200,
		ChannelsReadMediaPeriod: 604800,
		CallReceiveTimeoutMs:    20000,
		CallRingTimeoutMs:       90000,
		CallConnectTimeoutMs:    30000,
		CallPacketTimeoutMs:     10000,
		MeURLPrefix:             "https://t.me/",
		CaptionLengthMax:        maxCaptionLength,
		MessageLengthMax:        maxMessageLength,
		WebfileDCID:             DCID,
	}, nil
}

// publicAddr is where clients reach this server (Config.PublicAddr).
func (s *Server) publicAddr() (string, int) {
	addr := s.cfg.PublicAddr
	if addr == "" {
		addr = s.MTProtoAddr()
	}
	host, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	if ip := net.ParseIP(host); s.cfg.PublicAddr == "" && (host == "" || ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return host, port
}

func (s *Server) helpGetNearestDC(*call, *tg.HelpGetNearestDCRequest) (bin.Encoder, error) {
	return &tg.NearestDC{Country: "XX", ThisDC: DCID, NearestDC: DCID}, nil
}

func (s *Server) helpGetAppConfig(*call, *tg.HelpGetAppConfigRequest) (bin.Encoder, error) {
	return &tg.HelpAppConfig{Hash: 1, Config: &tg.JSONObject{}}, nil
}

func (s *Server) langpackGetLangPack(_ *call, req *tg.LangpackGetLangPackRequest) (bin.Encoder, error) {
	return &tg.LangPackDifference{LangCode: req.LangCode, Version: 1}, nil
}

// bindLocked logs the calling auth key in as acc.
func (s *Server) bindLocked(c *call, acc *account) {
	info := s.st.AuthKeys[c.keyID]
	if info == nil {
		info = &authKeyInfo{Key: append([]byte(nil), c.req.Session.AuthKey.Value[:]...)}
		s.st.AuthKeys[c.keyID] = info
	}
	info.UserID = acc.ID
	s.dirty = true
}

func (s *Server) authImportBotAuthorization(c *call, req *tg.AuthImportBotAuthorizationRequest) (bin.Encoder, error) {
	id, ok := s.checkBotToken(req.BotAuthToken)
	if !ok {
		return nil, tgerr.New(400, "ACCESS_TOKEN_INVALID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.st.Accounts[id]; a != nil && !a.Bot {
		// A token's ID that belongs to a user is no bot's token.
		return nil, tgerr.New(400, "ACCESS_TOKEN_INVALID")
	}
	bot := s.botLocked(id)
	s.bindLocked(c, bot)
	// The token is a secret: only the bot ID is logged.
	s.log.Info("bot logged in", zap.Int64("bot_id", id))
	return &tg.AuthAuthorization{User: bot.tl(bot.ID)}, nil
}

// checkBotToken validates "<bot_id>:<secret>" (and BotTokens, if set).
func (s *Server) checkBotToken(token string) (int64, bool) {
	idStr, secret, ok := strings.Cut(token, ":")
	if !ok || secret == "" {
		return 0, false
	}
	id, err := strconv.ParseInt(idStr, 10, 64)
	if err != nil || id <= 0 {
		return 0, false
	}
	if len(s.cfg.BotTokens) > 0 {
		for _, t := range s.cfg.BotTokens {
			if t == token {
				return id, true
			}
		}
		return 0, false
	}
	return id, true
}

// botLocked returns the bot with id, creating it.
func (s *Server) botLocked(id int64) *account {
	if a := s.st.Accounts[id]; a != nil {
		return a
	}
	a := newAccount(id, s.randInt63())
	a.Bot = true
	a.FirstName = "Bot " + strconv.FormatInt(id, 10)
	a.Username = "emu" + strconv.FormatInt(id, 10) + "_bot"
	s.st.Accounts[id] = a
	s.st.byUsername[strings.ToLower(a.Username)] = id
	s.dirty = true
	return a
}

func (s *Server) authLogOut(c *call, _ *tg.AuthLogOutRequest) (bin.Encoder, error) {
	s.mu.Lock()
	if info := s.st.AuthKeys[c.keyID]; info != nil {
		info.UserID = 0
	}
	for id, ss := range s.sessions {
		if ss.sess.AuthKey.ID == c.req.Session.AuthKey.ID {
			ss.stop()
			delete(s.sessions, id)
		}
	}
	s.dirty = true
	s.mu.Unlock()
	return &tg.AuthLoggedOut{}, nil
}

// lookupUserLocked resolves an input user for acc, nil when unknown.
func (s *Server) lookupUserLocked(acc *account, in tg.InputUserClass) *account {
	switch u := in.(type) {
	case *tg.InputUserSelf:
		return acc
	case *tg.InputUser:
		a := s.st.Accounts[u.UserID]
		if a == nil {
			return nil
		}
		if a.ID == acc.ID || u.AccessHash == a.AccessHash || (u.AccessHash == 0 && acc.knownPeers[a.ID]) {
			return a
		}
	case *tg.InputUserFromMessage:
		if a := s.st.Accounts[u.UserID]; a != nil {
			return a
		}
	}
	return nil
}

func (s *Server) usersGetUsers(c *call, req *tg.UsersGetUsersRequest) (bin.Encoder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := vector{}
	for _, in := range req.ID {
		if a := s.lookupUserLocked(c.acc, in); a != nil {
			out = append(out, a.tl(c.acc.ID))
		}
	}
	return out, nil
}

func (s *Server) usersGetFullUser(c *call, req *tg.UsersGetFullUserRequest) (bin.Encoder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.lookupUserLocked(c.acc, req.ID)
	if a == nil {
		return nil, tgerr.New(400, "USER_ID_INVALID")
	}
	return &tg.UsersUserFull{
		FullUser: tg.UserFull{ID: a.ID, Settings: tg.PeerSettings{}, NotifySettings: tg.PeerNotifySettings{}},
		Users:    []tg.UserClass{a.tl(c.acc.ID)},
	}, nil
}

func (s *Server) contactsResolveUsername(c *call, req *tg.ContactsResolveUsernameRequest) (bin.Encoder, error) {
	name := strings.ToLower(strings.TrimPrefix(req.Username, "@"))
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.st.byUsername[name]
	if !ok {
		return nil, tgerr.New(400, "USERNAME_NOT_OCCUPIED")
	}
	a := s.st.Accounts[id]
	return &tg.ContactsResolvedPeer{Peer: &tg.PeerUser{UserID: a.ID}, Users: []tg.UserClass{a.tl(c.acc.ID)}}, nil
}

func (s *Server) contactsGetContacts(*call, *tg.ContactsGetContactsRequest) (bin.Encoder, error) {
	return &tg.ContactsContacts{}, nil
}

func (s *Server) updatesGetState(c *call, _ *tg.UpdatesGetStateRequest) (bin.Encoder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &tg.UpdatesState{Pts: c.acc.Pts, Qts: c.acc.Qts, Date: int(s.now().Unix())}, nil
}

func (s *Server) updatesGetDifference(c *call, req *tg.UpdatesGetDifferenceRequest) (bin.Encoder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	acc := c.acc
	now := int(s.now().Unix())
	state := tg.UpdatesState{Pts: acc.Pts, Qts: acc.Qts, Date: now}
	if req.Pts > acc.Pts {
		// The client is ahead (the emulator lost its state): reset it.
		return &tg.UpdatesDifference{State: state}, nil
	}
	entries := acc.since(req.Pts)
	stops := acc.stopsSince(req.Qts)
	if len(entries) == 0 && len(stops) == 0 {
		return &tg.UpdatesDifferenceEmpty{Date: now}, nil
	}
	slice := len(entries) > maxDifference
	if slice {
		entries = entries[:maxDifference]
	}
	var (
		msgs  []*message
		news  []tg.MessageClass
		other []tg.UpdateClass
	)
	for _, e := range entries {
		if e.Callback != nil {
			other = append(other, e.Callback.tl())
			msgs = append(msgs, &message{FromID: e.Callback.UserID, Peer: e.Callback.Peer})
			continue
		}
		if u, ms, ok := s.otherUpdateLocked(acc, e); ok {
			other = append(other, u)
			msgs = append(msgs, ms...)
			continue
		}
		if m := acc.byID[e.MsgID]; m != nil {
			news = append(news, s.messageTLLocked(m))
			msgs = append(msgs, m)
		}
	}
	for _, st := range stops {
		other = append(other, st.tl())
		msgs = append(msgs, &message{FromID: st.UserID})
	}
	users := s.usersForLocked(acc.ID, msgs...)
	chats := s.chatsForLocked(msgs...)
	if slice {
		inter := tg.UpdatesState{Pts: entries[len(entries)-1].Pts, Qts: acc.Qts, Date: now}
		return &tg.UpdatesDifferenceSlice{NewMessages: news, OtherUpdates: other, Users: users, Chats: chats, IntermediateState: inter}, nil
	}
	return &tg.UpdatesDifference{NewMessages: news, OtherUpdates: other, Users: users, Chats: chats, State: state}, nil
}

func (s *Server) messagesSetBotCallbackAnswer(c *call, req *tg.MessagesSetBotCallbackAnswerRequest) (bin.Encoder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cb := s.st.callbacks[req.QueryID]
	if cb == nil {
		return nil, tgerr.New(400, "QUERY_ID_INVALID")
	}
	delete(s.st.callbacks, req.QueryID)
	s.feed.publish(Event{
		Type: "callback_answer", BotID: c.acc.ID, UserID: cb.UserID, MsgID: cb.MsgID,
		Message: req.Message, Alert: req.Alert, URL: req.URL,
	})
	return boolResult(true), nil
}

func (s *Server) messagesGetBotCallbackAnswer(*call, *tg.MessagesGetBotCallbackAnswerRequest) (bin.Encoder, error) {
	return nil, tgerr.New(400, "BOT_RESPONSE_TIMEOUT")
}

func (s *Server) botsSetBotCommands(*call, *tg.BotsSetBotCommandsRequest) (bin.Encoder, error) {
	return boolResult(true), nil
}

func (s *Server) botsResetBotCommands(*call, *tg.BotsResetBotCommandsRequest) (bin.Encoder, error) {
	return boolResult(true), nil
}

func (s *Server) accountUpdateStatus(*call, *tg.AccountUpdateStatusRequest) (bin.Encoder, error) {
	return boolResult(true), nil
}

func (s *Server) messagesSetBotPrecheckoutResults(*call, *tg.MessagesSetBotPrecheckoutResultsRequest) (bin.Encoder, error) {
	return nil, tgerr.New(400, "QUERY_ID_INVALID")
}
