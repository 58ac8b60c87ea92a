// Package tgemu is an offline Telegram: a local server that speaks real
// MTProto to real, unmodified gotd clients, with Telegram's semantics and
// RPC errors for the methods bots use, and a control API (JSON over HTTP,
// or the Go methods of Server) that plays the users: it creates them, makes
// them write to the bot, press inline buttons, block the bot, and shows
// what the bot sent.
//
// The MTProto transport (key exchange, encryption, containers, pings) is
// gotd's tgtest server, copied into mtserver with the changes listed there
// (restorable auth keys, a data race fixed). This package adds the
// Telegram API on top.
//
// # Model
//
// Every account (user or bot) has its own message box (message IDs) and its
// own pts sequence, as on Telegram. A message between a user and a bot is
// stored once in each box; both the bot's sends and the users' messages
// advance pts, so whatever a client missed (offline, a dropped push) comes
// back from updates.getDifference. Updates are pushed, in pts order and
// with the users attached, to every session of the account that made an
// authorized call without invokeWithoutUpdates; a send is also pushed to
// the sender's other sessions, as Telegram does. A client's requests are
// served in parallel; slow ones are acknowledged so gotd does not resend
// them, and a resend of a request still being served is dropped.
//
// Bots exist once they log in (auth.importBotAuthorization with
// "<bot_id>:<secret>"; the bot's user ID is bot_id) or after RegisterBot.
// Users are created by the control API; with a phone they can also log in
// over MTProto (auth.sendCode, auth.signIn with Config.LoginCode, and SRP
// 2FA when SetPassword gave them a password). Before login every method but
// the login ones answers 401 AUTH_KEY_UNREGISTERED; an unknown method
// answers 400 METHOD_INVALID.
//
// # Control API
//
//	GET  /healthz
//	GET  /v1/public-key                    PEM for the clients' TG_PUBLIC_KEY_FILE
//	GET  /v1/users                         every account
//	POST /v1/users                         {"first_name","username","phone","password"} -> 201 {"id","access_hash",...}
//	POST /v1/users/{id}/messages           {"text","bot_id"} -> 201 {"message_id"}
//	GET  /v1/users/{id}/messages?bot_id=   {"messages":[...]} the private chat as the bot sees it, oldest first
//	POST /v1/users/{id}/callbacks          {"message_id","data","bot_id"}: press an inline button
//	POST /v1/users/{id}/albums             {"count": 2-10,"caption","bot_id"}: the user sends an album of generated PNG photos
//	                                       -> 201 {"message_ids","grouped_id"}; messages show photo {width,height,sha256} and grouped_id
//	POST /v1/users/{id}/block, /unblock    {"bot_id"} (optional); the bot gets updateBotStopped on its qts
//	POST /v1/groups                        {"title","member_ids"} -> 201 {"id","title","members"}
//	POST /v1/groups/{id}/messages          {"user_id","text"} -> 201 {"message_id"}
//	GET  /v1/groups/{id}/messages?bot_id=  {"messages":[...]}
//	POST /v1/channels                      {"title","megagroup","member_ids"} -> 201 {"id","access_hash","title","megagroup","members","admins"}
//	                                       a supergroup (megagroup true) or a broadcast channel; Bot API chat ID -100<id>
//	GET  /v1/channels                      {"channels":[...]}
//	POST /v1/channels/{id}/messages        {"user_id","text"} -> 201 {"message_id"}: a member writes in a supergroup,
//	                                       an admin posts in a broadcast channel
//	GET  /v1/channels/{id}/messages?bot_id= {"messages":[...]} as the bot sees them (out: the bot's own)
//	PUT  /v1/limits                        {"global_per_second","per_chat_per_second","group_per_minute"}, 0 = off
//	POST /v1/faults                        {"method","error","count"}: the next count calls fail
//	POST /v1/disconnect                    drop every MTProto connection
//	GET  /v1/stats                         {"rpc":{method:count},"flood_waits","connections"}
//	GET  /v1/groups                        {"groups":[{"id","title","members"}]}
//	GET  /v1/documents/{id}                the document's bytes (an attachment)
//	GET  /v1/events                        server-sent events (Event): message, edit, delete, pin, chat_action,
//	                                       callback_answer, accounts
//	GET  /                                 the page (package web): chat with the bot as any user
//
// bot_id may be left out while exactly one bot exists. Errors are
// {"error": "..."} with 400, 404 or 409.
//
// Limitations:
//   - One DC (ID 2). Groups are basic chats or supergroups and channels
//     (channels.go), created by the control API; the bot sees every group
//     message (no privacy mode). Member lists are fixed at creation: nobody
//     joins, leaves or is promoted later.
//   - Channels: one shared box and pts sequence per channel; the first user
//     member is the creator and an admin, bots are admins of broadcast
//     channels only. A member bot may look a channel up with access hash 0
//     (channels.getChannels, channels.getFullChannel); every other method
//     needs the real hash. updates.getDifference never mentions channels
//     (no updateChannelTooLong): a client that never saw a channel's update
//     learns of it with the next one. No forums, discussion groups,
//     signatures, views or albums in channels.
//   - Media: documents only (uploaded or existing). Photos, albums, polls and
//     the like answer MEDIA_INVALID; no thumbnails, no CDN.
//   - An expired, malformed or foreign file reference answers
//     FILE_REFERENCE_EXPIRED (Telegram has several FILE_REFERENCE_* errors);
//     clients refresh it with messages.getMessages.
//   - Callback queries ride on the pts sequence with an empty
//     updateReadMessagesContents, so a client that misses the push gets them
//     from getDifference; a client with a gap may see one twice (dedupe by
//     query ID, as with Telegram). Open queries are not persisted.
//   - No updates.differenceTooLong: a long gap is returned in slices of
//     1,000. Each account keeps its last 200,000 messages and updates.
//   - Pushes to a session that falls 4,096 updates behind are dropped; the
//     client recovers through getDifference.
//   - Sign-up is not emulated: only users created with a phone can log in.
//   - One access hash per user, the same for every viewer; a bot may also
//     use access hash 0 for a user who wrote to it.
//   - Flood limits count messages (sendMessage, sendMedia) of bots only.
//   - With Config.DataFile the state is saved every second and on Close:
//     a crash loses at most the last second. Without it, a restart forgets
//     every auth key and clients get new, unauthorized ones (log in again).
//     Document bytes are kept in memory (and in DataFile + ".files").
//   - After DisconnectAll a call racing the drop can fail with a network
//     error before gotd reconnects, as with a real network.
package tgemu
