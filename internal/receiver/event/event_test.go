package event

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/gotd/td/tg"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/api"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(api.EventsSchema))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource("events.schema.json", doc))
	sch, err := c.Compile("events.schema.json")
	require.NoError(t, err)
	return sch
}

func validate(t *testing.T, sch *jsonschema.Schema, ev Event) {
	t.Helper()
	body, err := json.Marshal(ev)
	require.NoError(t, err)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	require.NoError(t, err)
	require.NoError(t, sch.Validate(inst), "%s", body)
}

func TestFromUpdateMatchesSchema(t *testing.T) {
	sch := compileSchema(t)
	const bot = 42
	user := &tg.User{ID: 7, AccessHash: 99, FirstName: "Ann", LastName: "Lee", Username: "ann"}
	ents := NewEntities([]tg.UserClass{user}, []tg.ChatClass{
		&tg.Chat{ID: 5, Title: "Team"},
		&tg.Channel{ID: 6, Title: "Super", Megagroup: true, AccessHash: 1},
	})
	doc := &tg.Document{ID: 1, AccessHash: 2, FileReference: []byte{1}, DCID: 2, MimeType: "text/plain", Size: 11,
		Attributes: []tg.DocumentAttributeClass{&tg.DocumentAttributeFilename{FileName: "a.txt"}}}

	msg := &tg.Message{ID: 10, PeerID: &tg.PeerUser{UserID: 7}, Date: 1700000000, Message: "/start hi",
		Entities: []tg.MessageEntityClass{&tg.MessageEntityBotCommand{Offset: 0, Length: 6}, &tg.MessageEntityTextURL{Offset: 7, Length: 2, URL: "https://x"}},
		Media:    &tg.MessageMediaDocument{Document: doc},
		ReplyTo:  &tg.MessageReplyHeader{ReplyToMsgID: 3}}
	ev, ok := FromUpdate(bot, &tg.UpdateNewMessage{Message: msg}, ents)
	require.True(t, ok)
	require.Equal(t, "42:m10", ev.ID)
	require.Equal(t, &Chat{ID: 7, Type: ChatPrivate, Username: "ann"}, ev.Chat)
	require.Equal(t, &User{ID: 7, FirstName: "Ann", LastName: "Lee", Username: "ann"}, ev.From)
	require.Equal(t, []Entity{{Type: "bot_command", Length: 6}, {Type: "text_link", Offset: 7, Length: 2, URL: "https://x"}}, ev.Message.Entities)
	require.Equal(t, "a.txt", ev.Message.Document.FileName)
	require.NotEmpty(t, ev.Message.Document.DocumentID)
	require.Equal(t, 3, ev.Message.ReplyToMessageID)
	validate(t, sch, ev)
	require.Equal(t, &tg.InputPeerUser{UserID: 7, AccessHash: 99}, ents.InputPeer(msg.PeerID))

	edited := *msg
	edited.SetEditDate(1700000100)
	ev, ok = FromUpdate(bot, &tg.UpdateEditMessage{Message: &edited}, ents)
	require.True(t, ok)
	require.Equal(t, TypeEditedMessage, ev.Type)
	require.Equal(t, "42:m10:e1700000100", ev.ID)
	validate(t, sch, ev)

	group := &tg.Message{ID: 11, PeerID: &tg.PeerChat{ChatID: 5}, FromID: &tg.PeerUser{UserID: 7}, Message: "hello"}
	ev, ok = FromUpdate(bot, &tg.UpdateNewMessage{Message: group}, ents)
	require.True(t, ok)
	require.Equal(t, &Chat{ID: -5, Type: ChatGroup, Title: "Team"}, ev.Chat)
	require.Equal(t, int64(7), ev.From.ID)
	validate(t, sch, ev)

	super := &tg.Message{ID: 1, PeerID: &tg.PeerChannel{ChannelID: 6}, FromID: &tg.PeerUser{UserID: 7}, Message: "x"}
	ev, ok = FromUpdate(bot, &tg.UpdateNewChannelMessage{Message: super}, ents)
	require.True(t, ok)
	require.Equal(t, "42:c6:m1", ev.ID)
	require.Equal(t, int64(-1000000000006), ev.ChatID())
	require.Equal(t, ChatSupergroup, ev.Chat.Type)
	require.Equal(t, TypeMessage, ev.Type)
	validate(t, sch, ev)

	// A broadcast channel's posts carry no sender; their edits are edited_channel_post.
	ents = NewEntities([]tg.UserClass{user, &tg.User{ID: bot, Bot: true, FirstName: "Bot", Username: "b_bot"}}, []tg.ChatClass{
		&tg.Channel{ID: 8, Title: "News", Broadcast: true, AccessHash: 1},
	})
	post := &tg.Message{ID: 4, PeerID: &tg.PeerChannel{ChannelID: 8}, Post: true, Message: "news", Date: 1700000000}
	ev, ok = FromUpdate(bot, &tg.UpdateNewChannelMessage{Message: post}, ents)
	require.True(t, ok)
	require.Equal(t, TypeChannelPost, ev.Type)
	require.Equal(t, &Chat{ID: -1000000000008, Type: ChatChannel, Title: "News"}, ev.Chat)
	require.Nil(t, ev.From)
	validate(t, sch, ev)
	post.SetEditDate(1700000001)
	ev, ok = FromUpdate(bot, &tg.UpdateEditChannelMessage{Message: post}, ents)
	require.True(t, ok)
	require.Equal(t, TypeEditedChannelPost, ev.Type)
	require.Equal(t, "42:c8:m4:e1700000001", ev.ID)
	validate(t, sch, ev)
	// Without the channel entity the post flag decides.
	ev, ok = FromUpdate(bot, &tg.UpdateNewChannelMessage{Message: &tg.Message{ID: 5, PeerID: &tg.PeerChannel{ChannelID: 9}, FromID: &tg.PeerUser{UserID: 7}}}, ents)
	require.True(t, ok)
	require.Equal(t, ChatSupergroup, ev.Chat.Type)

	// A user blocking, then unblocking the bot: my_chat_member.
	for _, stopped := range []bool{true, false} {
		ev, ok = FromUpdate(bot, &tg.UpdateBotStopped{UserID: 7, Date: 1700000002, Stopped: stopped, Qts: 3}, ents)
		require.True(t, ok)
		require.Equal(t, TypeMyChatMember, ev.Type)
		require.Equal(t, "42:s3", ev.ID)
		m := ev.MyChatMember
		require.Equal(t, &Chat{ID: 7, Type: ChatPrivate, Username: "ann"}, m.Chat)
		require.Equal(t, int64(7), m.From.ID)
		require.Equal(t, int64(1700000002), m.Date)
		require.Equal(t, &User{ID: bot, IsBot: true, FirstName: "Bot", Username: "b_bot"}, m.NewChatMember.User)
		want := map[bool][2]string{true: {StatusMember, StatusKicked}, false: {StatusKicked, StatusMember}}[stopped]
		require.Equal(t, want, [2]string{m.OldChatMember.Status, m.NewChatMember.Status})
		validate(t, sch, ev)
	}

	ev, ok = FromUpdate(bot, &tg.UpdateBotCallbackQuery{QueryID: 555, UserID: 7, Peer: &tg.PeerUser{UserID: 7}, MsgID: 10, Data: []byte("yes")}, ents)
	require.True(t, ok)
	require.Equal(t, "42:q555", ev.ID)
	require.Equal(t, &Callback{ID: "555", CallbackQueryID: "555", Data: "yes", MessageID: 10}, ev.Callback)
	validate(t, sch, ev)

	_, ok = FromUpdate(bot, &tg.UpdateNewMessage{Message: &tg.Message{ID: 12, Out: true, PeerID: &tg.PeerUser{UserID: 7}}}, ents)
	require.False(t, ok, "the bot's own messages are not events")
	_, ok = FromUpdate(bot, &tg.UpdateUserTyping{}, ents)
	require.False(t, ok)

	data, err := json.Marshal(UserCreate{Name: "Ann", ChatID: 7})
	require.NoError(t, err)
	validate(t, sch, Event{ID: DerivedID("42:m10", TypeUserCreate), Type: TypeUserCreate, Date: 1, BotID: bot, Chat: &Chat{ID: 7, Type: ChatPrivate}, Data: data})

	// The schema rejects what it should.
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(`{"id":"x","type":"message","date":1,"bot_id":1}`)))
	require.NoError(t, err)
	require.Error(t, sch.Validate(inst), "a message event needs chat and message")
	inst, err = jsonschema.UnmarshalJSON(bytes.NewReader([]byte(`{"id":"x","type":"user.create","date":1,"bot_id":1,"chat":{"id":1,"type":"private"},"data":{"name":""}}`)))
	require.NoError(t, err)
	require.Error(t, sch.Validate(inst))
}

func TestParseTypes(t *testing.T) {
	got, err := ParseTypes([]string{"message", " callback", ""})
	require.NoError(t, err)
	require.Equal(t, map[Type]bool{TypeMessage: true, TypeCallbackQuery: true}, got)
	_, err = ParseTypes([]string{"photos"})
	require.Error(t, err)
}

func TestEntitiesInputPeer(t *testing.T) {
	ents := NewEntities(
		[]tg.UserClass{&tg.User{ID: 7, AccessHash: 99}, &tg.UserEmpty{ID: 8}},
		[]tg.ChatClass{&tg.Chat{ID: 5}, &tg.Channel{ID: 6, AccessHash: 11}, &tg.ChatForbidden{ID: 9}},
	)
	tests := []struct {
		peer tg.PeerClass
		want tg.InputPeerClass
	}{
		{&tg.PeerUser{UserID: 7}, &tg.InputPeerUser{UserID: 7, AccessHash: 99}},
		{&tg.PeerChannel{ChannelID: 6}, &tg.InputPeerChannel{ChannelID: 6, AccessHash: 11}},
		{&tg.PeerChat{ChatID: 5}, &tg.InputPeerChat{ChatID: 5}},
		// Not in the update: access hash 0 rather than an error.
		{&tg.PeerUser{UserID: 8}, &tg.InputPeerUser{UserID: 8}},
		{&tg.PeerChannel{ChannelID: 12}, &tg.InputPeerChannel{ChannelID: 12}},
		{&tg.PeerChat{ChatID: 9}, &tg.InputPeerChat{ChatID: 9}},
		{nil, &tg.InputPeerEmpty{}},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, ents.InputPeer(tt.peer), "%v", tt.peer)
	}
}
